"""Teams and team memberships: create (with the creator's default permissions), join, leave, delete."""
from __future__ import annotations

import uuid
from typing import Any, Literal

from sqlalchemy import delete as sql_delete, select, update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.teams import permissions
from emulator.domain.webhooks import webhooks
from emulator.clock import now_millis
from emulator.domain.payments import purchases
from emulator.domain.projects.projects import INTERNAL_PROJECT_ID, ProjectView
from emulator.errors import E
from emulator.store.models import Team, TeamMember, TeamPermissionGrant, User

CLIENT_FIELDS = ("id", "display_name", "profile_image_url", "client_metadata", "client_read_only_metadata")
EDITABLE_FIELDS = ("display_name", "profile_image_url", "client_metadata", "client_read_only_metadata",
                   "server_metadata")
PERSONAL_TEAM_DEFAULT_NAME = "Personal Team"


def server_shape(team: Team) -> dict[str, Any]:
    return {"id": team.id, "display_name": team.display_name, "profile_image_url": team.profile_image_url,
            "client_metadata": team.client_metadata, "client_read_only_metadata": team.client_read_only_metadata,
            "server_metadata": team.server_metadata, "created_at_millis": team.created_at_millis}


def client_shape(team: Team) -> dict[str, Any]:
    server = server_shape(team)
    return {k: server[k] for k in CLIENT_FIELDS}


async def get(db: AsyncSession, project: ProjectView, team_id: str) -> Team | None:
    team = await db.get(Team, team_id)
    return team if team is not None and team.project_id == project.id else None


async def require(db: AsyncSession, project: ProjectView, team_id: str) -> Team:
    team = await get(db, project, team_id)
    if team is None:
        raise E.team_not_found(team_id)
    return team


async def list_teams(db: AsyncSession, project: ProjectView, user_id: str | None) -> list[Team]:
    stmt = select(Team).where(Team.project_id == project.id)
    if user_id:
        stmt = stmt.join(TeamMember, TeamMember.team_id == Team.id).where(TeamMember.user_id == user_id)
    return list((await db.execute(stmt.order_by(Team.created_at_millis, Team.id))).scalars())


async def create(db: AsyncSession, project: ProjectView, data: dict[str, Any], creator_id: str | None, *,
                 team_id: str | None = None) -> Team:
    team = Team(id=team_id or str(uuid.uuid4()), project_id=project.id, created_at_millis=now_millis(),
                **{k: data.get(k) for k in EDITABLE_FIELDS})
    db.add(team)
    await db.flush()
    if creator_id:
        await permissions.require_user(db, project, creator_id)
        await add_member(db, project, team, creator_id, "creator")
    if project.id == INTERNAL_PROJECT_ID:  # a team that may own projects starts on the dashboard's free plan
        free = project.config["payments"]["products"]["free"]
        await purchases.grant_product(db, project, "team", team.id, free, "free", None, 1, "TEST_MODE")
    await webhooks.emit(db, project, "team.created", server_shape(team))
    return team


async def update(db: AsyncSession, project: ProjectView, team: Team, data: dict[str, Any]) -> None:
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(team, field, data[field])
    await db.flush()
    await webhooks.emit(db, project, "team.updated", server_shape(team))


async def delete(db: AsyncSession, project: ProjectView, team: Team) -> None:
    await _unselect(db, team.id)
    await db.delete(team)
    await db.flush()
    await webhooks.emit(db, project, "team.deleted", {"id": team.id})


async def add_member(db: AsyncSession, project: ProjectView, team: Team, user_id: str,
                     kind: Literal["creator", "member"] = "member") -> TeamMember:
    """Add a user to a team with the config's default permissions for creators or members.

    Like the platform, a member who joins (through the membership API or an invitation) is announced, with each
    permission they get; a team's creator is not (team.created tells of the team)."""
    if await db.get(TeamMember, (team.id, user_id)) is not None:
        raise E.team_membership_already_exists()
    member = TeamMember(team_id=team.id, user_id=user_id, project_id=project.id, created_at_millis=now_millis())
    db.add(member)
    await db.flush()
    announce = kind == "member"
    if announce:
        await webhooks.emit(db, project, "team_membership.created", {"team_id": team.id, "user_id": user_id})
    await permissions.grant_team_defaults(db, project, team.id, user_id, kind, announce=announce)
    return member


async def remove_member(db: AsyncSession, project: ProjectView, team_id: str, user_id: str) -> None:
    member = await permissions.require_membership(db, project, team_id, user_id)
    await _unselect(db, team_id, user_id)
    await db.execute(sql_delete(TeamPermissionGrant).where(TeamPermissionGrant.team_id == team_id,
                                                           TeamPermissionGrant.user_id == user_id))
    await db.delete(member)
    await db.flush()
    await webhooks.emit(db, project, "team_membership.deleted", {"team_id": team_id, "user_id": user_id})


async def _unselect(db: AsyncSession, team_id: str, user_id: str | None = None) -> None:
    """A user's selected team stops being selected when they leave it or it is deleted."""
    stmt = sql_update(User).where(User.selected_team_id == team_id)
    if user_id:
        stmt = stmt.where(User.id == user_id)
    await db.execute(stmt.values(selected_team_id=None).execution_options(synchronize_session="fetch"))


def personal_team_name(display_name: str | None, primary_email: str | None) -> str:
    if display_name:
        return f"{display_name}'s Team"
    if primary_email:
        return f"{primary_email}'s Team"
    return PERSONAL_TEAM_DEFAULT_NAME


async def create_personal_team(db: AsyncSession, project: ProjectView, user: User, primary_email: str | None) -> Team:
    """The team `teams.createPersonalTeamOnSignUp` gives each new user: they create it, and it is selected."""
    team = await create(db, project, {"display_name": personal_team_name(user.display_name, primary_email)}, None)
    await add_member(db, project, team, user.id, "creator")
    user.selected_team_id = team.id
    return team
