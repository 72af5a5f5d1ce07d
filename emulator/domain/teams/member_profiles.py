"""Team member profiles: a member's name and image inside one team, falling back to the user's own."""
from __future__ import annotations

from typing import Any

from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.teams import permissions
from emulator.domain.users import users
from emulator.domain.projects.projects import ProjectView
from emulator.store.models import TeamMember, User

EDITABLE_FIELDS = ("display_name", "profile_image_url")


def client_shape(member: TeamMember, user: User) -> dict[str, Any]:
    # Only an unset (null) profile field falls back; an empty string is a value.
    return {"team_id": member.team_id, "user_id": member.user_id,
            "display_name": member.display_name if member.display_name is not None else user.display_name,
            "profile_image_url": member.profile_image_url if member.profile_image_url is not None
            else user.profile_image_url}


async def render(db: AsyncSession, project: ProjectView, member: TeamMember, user: User, *,
                 server: bool) -> dict[str, Any]:
    out = client_shape(member, user)
    if server:
        out["user"] = await users.render(db, user, project)
    return out


async def list_members(db: AsyncSession, project: ProjectView, team_id: str | None,
                       user_id: str | None) -> list[tuple[TeamMember, User]]:
    """Memberships matching the filters, in the order members joined (rowid breaks same-millisecond ties)."""
    stmt = select(TeamMember, User).join(User, User.id == TeamMember.user_id).where(TeamMember.project_id == project.id)
    if team_id:
        stmt = stmt.where(TeamMember.team_id == team_id)
    if user_id:
        stmt = stmt.where(TeamMember.user_id == user_id)
    stmt = stmt.order_by(TeamMember.created_at_millis, literal_column("team_members.rowid"))
    return [(m, u) for m, u in (await db.execute(stmt)).unique().all()]


async def get(db: AsyncSession, project: ProjectView, team_id: str, user_id: str) -> tuple[TeamMember, User]:
    member = await permissions.require_membership(db, project, team_id, user_id)
    return member, await users.require(db, project, user_id)


def update(member: TeamMember, data: dict[str, Any]) -> None:
    for field in EDITABLE_FIELDS:
        if field in data:
            setattr(member, field, data[field])
