"""Permissions (RBAC): definitions from the project config, direct grants in the store, recursive expansion.

Every permission check of the API goes through `require_team_permission` / `has_team_permission`, so the rules
live here: a user holds a permission in a team when it is granted directly or contained (at any depth) in one
that is. Definitions are read from the current config on every call, so a hot-reloaded edit applies to the next
request; grants of ids the config no longer defines are kept but ignored.
"""
from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.webhooks import webhooks
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E
from emulator.store.models import ProjectPermissionGrant, TeamMember, TeamPermissionGrant, User

Scope = Literal["team", "project"]

# The platform's built-in team permissions, always defined (their ids start with `$`).
SYSTEM_TEAM_PERMISSIONS = {
    "$update_team": "Update the team information",
    "$delete_team": "Delete the team",
    "$read_members": "Read and list the other members of the team",
    "$remove_members": "Remove other members from the team",
    "$invite_members": "Invite other users to the team",
    "$manage_api_keys": "Create and manage API keys for the team",
}


def definitions(config: dict[str, Any], scope: Scope) -> dict[str, dict[str, Any]]:
    """The permissions of one scope, by id: `{id, description?, contained_permission_ids}` as the API shows them."""
    out: dict[str, dict[str, Any]] = {}
    for pid, spec in config["rbac"]["permissions"].items():
        if spec is None or spec.get("scope") != scope:
            continue
        item: dict[str, Any] = {"id": pid}
        description = spec.get("description") or SYSTEM_TEAM_PERMISSIONS.get(pid)
        if description:
            item["description"] = description
        item["contained_permission_ids"] = sorted(k for k, on in (spec.get("containedPermissionIds") or {}).items() if on)
        out[pid] = item
    if scope == "team":
        for pid, description in SYSTEM_TEAM_PERMISSIONS.items():
            out.setdefault(pid, {"id": pid, "description": description, "contained_permission_ids": []})
    return dict(sorted(out.items()))


def expand(defs: dict[str, dict[str, Any]], direct: set[str], recursive: bool) -> set[str]:
    """The ids a holder of `direct` has: the defined ones, plus (recursively) what they contain."""
    held: set[str] = set()
    pending = [pid for pid in direct if pid in defs]
    while pending:
        pid = pending.pop()
        if pid in held or pid not in defs:
            continue
        held.add(pid)
        if recursive:
            pending.extend(defs[pid]["contained_permission_ids"])
    return held


def _check_grantable(config: dict[str, Any], scope: Scope, permission_id: str) -> None:
    spec = config["rbac"]["permissions"].get(permission_id)
    if spec is None:
        if scope == "team" and permission_id in SYSTEM_TEAM_PERMISSIONS:
            return
        raise E.permission_not_found(permission_id)
    if spec.get("scope") != scope:
        raise E.wrong_permission_scope(permission_id, scope, spec.get("scope"))


async def list_team_permissions(db: AsyncSession, project: ProjectView, *, team_id: str | None = None,
                                user_id: str | None = None, permission_id: str | None = None,
                                recursive: bool = False) -> list[dict[str, str]]:
    stmt = select(TeamPermissionGrant.team_id, TeamPermissionGrant.user_id, TeamPermissionGrant.permission_id) \
        .where(TeamPermissionGrant.project_id == project.id)
    if team_id:
        stmt = stmt.where(TeamPermissionGrant.team_id == team_id)
    if user_id:
        stmt = stmt.where(TeamPermissionGrant.user_id == user_id)
    direct: dict[tuple[str, str], set[str]] = {}
    for t, u, p in (await db.execute(stmt)).all():
        direct.setdefault((t, u), set()).add(p)
    defs = definitions(project.config, "team")
    items = [{"id": pid, "user_id": u, "team_id": t}
             for (t, u), ids in direct.items() for pid in expand(defs, ids, recursive)]
    items.sort(key=lambda p: (p["team_id"], p["user_id"], p["id"]))
    return [p for p in items if permission_id is None or p["id"] == permission_id]


async def list_project_permissions(db: AsyncSession, project: ProjectView, *, user_id: str | None = None,
                                   permission_id: str | None = None, recursive: bool = False) -> list[dict[str, str]]:
    stmt = select(ProjectPermissionGrant.user_id, ProjectPermissionGrant.permission_id) \
        .where(ProjectPermissionGrant.project_id == project.id)
    if user_id:
        stmt = stmt.where(ProjectPermissionGrant.user_id == user_id)
    direct: dict[str, set[str]] = {}
    for u, p in (await db.execute(stmt)).all():
        direct.setdefault(u, set()).add(p)
    defs = definitions(project.config, "project")
    items = [{"id": pid, "user_id": u} for u, ids in direct.items() for pid in expand(defs, ids, recursive)]
    items.sort(key=lambda p: (p["user_id"], p["id"]))
    return [p for p in items if permission_id is None or p["id"] == permission_id]


async def require_user(db: AsyncSession, project: ProjectView, user_id: str) -> User:
    user = await db.get(User, user_id)
    if user is None or user.project_id != project.id:
        raise E.user_not_found()
    return user


async def require_membership(db: AsyncSession, project: ProjectView, team_id: str, user_id: str) -> TeamMember:
    """The reference's membership check: an unknown user is USER_NOT_FOUND, a non-member TEAM_MEMBERSHIP_NOT_FOUND."""
    await require_user(db, project, user_id)
    member = await db.get(TeamMember, (team_id, user_id))
    if member is None or member.project_id != project.id:
        raise E.team_membership_not_found(team_id, user_id)
    return member


async def has_team_permission(db: AsyncSession, project: ProjectView, team_id: str, user_id: str,
                              permission_id: str, *, recursive: bool = True) -> bool:
    granted = await list_team_permissions(db, project, team_id=team_id, user_id=user_id, recursive=recursive)
    return any(p["id"] == permission_id for p in granted)


async def require_team_permission(db: AsyncSession, project: ProjectView, team_id: str, user_id: str,
                                  permission_id: str) -> None:
    """What a client needs before acting on a team: membership, then the permission (directly or contained)."""
    await require_membership(db, project, team_id, user_id)
    if not await has_team_permission(db, project, team_id, user_id, permission_id):
        raise E.team_permission_required(team_id, user_id, permission_id)


async def grant_team_permission(db: AsyncSession, project: ProjectView, team_id: str, user_id: str,
                                permission_id: str, *, announce: bool = True) -> dict[str, str]:
    _check_grantable(project.config, "team", permission_id)
    if await db.get(TeamPermissionGrant, (team_id, user_id, permission_id)) is None:
        db.add(TeamPermissionGrant(team_id=team_id, user_id=user_id, permission_id=permission_id,
                                   project_id=project.id, created_at_millis=now_millis()))
        await db.flush()
    granted = {"id": permission_id, "user_id": user_id, "team_id": team_id}
    if announce:
        await webhooks.emit(db, project, "team_permission.created", granted)
    return granted


async def revoke_team_permission(db: AsyncSession, project: ProjectView, team_id: str, user_id: str,
                                 permission_id: str) -> None:
    await require_membership(db, project, team_id, user_id)
    if not await has_team_permission(db, project, team_id, user_id, permission_id, recursive=False):
        raise E.team_permission_not_found(team_id, user_id, permission_id)
    await db.execute(delete(TeamPermissionGrant).where(
        TeamPermissionGrant.team_id == team_id, TeamPermissionGrant.user_id == user_id,
        TeamPermissionGrant.permission_id == permission_id))
    await webhooks.emit(db, project, "team_permission.deleted",
                        {"id": permission_id, "team_id": team_id, "user_id": user_id})


async def grant_project_permission(db: AsyncSession, project: ProjectView, user_id: str,
                                   permission_id: str, *, announce: bool = True) -> dict[str, str]:
    _check_grantable(project.config, "project", permission_id)
    if await db.get(ProjectPermissionGrant, (user_id, permission_id)) is None:
        db.add(ProjectPermissionGrant(user_id=user_id, permission_id=permission_id, project_id=project.id,
                                      created_at_millis=now_millis()))
        await db.flush()
    granted = {"id": permission_id, "user_id": user_id}
    if announce:
        await webhooks.emit(db, project, "project_permission.created", granted)
    return granted


async def revoke_project_permission(db: AsyncSession, project: ProjectView, user_id: str, permission_id: str) -> None:
    await require_user(db, project, user_id)
    if not await list_project_permissions(db, project, user_id=user_id, permission_id=permission_id):
        raise E.permission_not_found(permission_id)
    await db.execute(delete(ProjectPermissionGrant).where(
        ProjectPermissionGrant.user_id == user_id, ProjectPermissionGrant.permission_id == permission_id))
    await webhooks.emit(db, project, "project_permission.deleted", {"id": permission_id, "user_id": user_id})


async def grant_team_defaults(db: AsyncSession, project: ProjectView, team_id: str, user_id: str,
                              kind: Literal["creator", "member"], *, announce: bool) -> list[str]:
    """Grant `rbac.defaultPermissions.teamCreator` or `.teamMember` to a user who just joined a team."""
    key = "teamCreator" if kind == "creator" else "teamMember"
    ids = [pid for pid, on in project.config["rbac"]["defaultPermissions"][key].items() if on]
    for pid in ids:
        await grant_team_permission(db, project, team_id, user_id, pid, announce=announce)
    return ids


async def grant_sign_up_defaults(db: AsyncSession, project: ProjectView, user_id: str) -> None:
    """Granted as part of the sign-up, which the platform announces as user.created only."""
    for pid, on in project.config["rbac"]["defaultPermissions"]["signUp"].items():
        if on:
            await grant_project_permission(db, project, user_id, pid, announce=False)
