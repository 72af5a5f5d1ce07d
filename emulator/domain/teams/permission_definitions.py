"""Permission definitions CRUD: changes to `rbac.permissions` made through the config levels, and the grants that
follow a rename or a delete.

Which level: a project bound to a hexclave.config.py gets the change in its file (the branch level), so the file
stays the one place a developer reads and edits permissions (an environment-level copy would silently win over
later edits of the file). Other projects get it at the environment level, like the platform. Every change names
single entries (`rbac.permissions.<id>`), never the whole map, so unrelated definitions at other levels stay theirs.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.projects import config_levels
from emulator.domain.teams.permissions import Scope, definitions
from emulator.domain.projects.projects import ProjectDirectory, ProjectView
from emulator.errors import E
from emulator.store.models import ProjectPermissionGrant, TeamPermissionGrant

DEFAULT_KINDS = ("teamCreator", "teamMember", "signUp")


def _grant_table(scope: Scope):
    return TeamPermissionGrant if scope == "team" else ProjectPermissionGrant


def _check_contained(project: ProjectView, scope: Scope, contained: list[str]) -> None:
    known = definitions(project.config, scope)
    for pid in contained:
        if pid not in known:
            raise E.contained_permission_not_found(pid)


def _entry(scope: Scope, description: str | None, contained: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {"description": description} if description else {}
    return {**entry, "scope": scope, "containedPermissionIds": {pid: True for pid in sorted(contained)}}


def _require(project: ProjectView, scope: Scope, permission_id: str) -> dict[str, Any]:
    spec = project.config["rbac"]["permissions"].get(permission_id)
    if not isinstance(spec, dict) or spec.get("scope") != scope:
        raise E.permission_not_found(permission_id)
    return spec


def _drop_from_others(project: ProjectView, old_id: str, new_id: str | None) -> dict[str, Any]:
    """Changes that take `old_id` out of (or rename it in) other permissions and the default permissions."""
    change: dict[str, Any] = {}
    for pid, spec in project.config["rbac"]["permissions"].items():
        contained = (spec or {}).get("containedPermissionIds") or {}
        if pid != old_id and old_id in contained:
            ids = {k: v for k, v in contained.items() if k != old_id}
            if new_id:
                ids[new_id] = True
            change[f"rbac.permissions.{pid}"] = {**spec, "containedPermissionIds": ids}  # whole entry: see module doc
    for kind in DEFAULT_KINDS:
        if old_id in project.config["rbac"]["defaultPermissions"][kind]:
            change[f"rbac.defaultPermissions.{kind}.{old_id}"] = None
            if new_id:
                change[f"rbac.defaultPermissions.{kind}.{new_id}"] = True
    return change


async def _apply(db: AsyncSession, directory: ProjectDirectory, project: ProjectView,
                 change: dict[str, Any]) -> ProjectView:
    level = "branch" if project.id in directory.files else "environment"
    await config_levels.patch(db, directory, project.id, level, change)
    return await directory.view(db, project.id)


async def create(db: AsyncSession, directory: ProjectDirectory, project: ProjectView, scope: Scope,
                 data: dict[str, Any]) -> dict[str, Any]:
    pid = data["id"]
    if project.config["rbac"]["permissions"].get(pid) is not None:
        raise E.permission_id_already_exists(pid)
    contained = data.get("contained_permission_ids") or []
    _check_contained(project, scope, contained)
    after = await _apply(db, directory, project,
                         {f"rbac.permissions.{pid}": _entry(scope, data.get("description"), contained)})
    return definitions(after.config, scope)[pid]


async def update(db: AsyncSession, directory: ProjectDirectory, project: ProjectView, scope: Scope, old_id: str,
                 data: dict[str, Any]) -> dict[str, Any]:
    """Fields left out keep their current value; a new `id` renames, moving grants and references along."""
    spec = _require(project, scope, old_id)
    new_id = data.get("id") or old_id
    if new_id != old_id and project.config["rbac"]["permissions"].get(new_id) is not None:
        raise E.permission_id_already_exists(new_id)
    contained = data["contained_permission_ids"] if "contained_permission_ids" in data else \
        [k for k, on in (spec.get("containedPermissionIds") or {}).items() if on]
    _check_contained(project, scope, contained)
    description = data["description"] if "description" in data else spec.get("description")
    change: dict[str, Any] = {}
    if new_id != old_id:
        change = {f"rbac.permissions.{old_id}": None, **_drop_from_others(project, old_id, new_id)}
        table = _grant_table(scope)
        # Grants of a former definition with the new id were ignored until now; the renamed ones take their place.
        await db.execute(delete(table).where(table.project_id == project.id, table.permission_id == new_id))
        await db.execute(sql_update(table).where(table.project_id == project.id, table.permission_id == old_id)
                         .values(permission_id=new_id))
    change[f"rbac.permissions.{new_id}"] = _entry(scope, description, contained)
    after = await _apply(db, directory, project, change)
    return definitions(after.config, scope)[new_id]


async def remove(db: AsyncSession, directory: ProjectDirectory, project: ProjectView, scope: Scope,
                 permission_id: str) -> None:
    _require(project, scope, permission_id)
    change = {f"rbac.permissions.{permission_id}": None, **_drop_from_others(project, permission_id, None)}
    table = _grant_table(scope)
    await db.execute(delete(table).where(table.project_id == project.id, table.permission_id == permission_id))
    await _apply(db, directory, project, change)
