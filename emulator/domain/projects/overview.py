"""Read-only figures the dashboard shows and the API has no endpoint for: projects, counts, a project's keys."""
from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.store.models import ApiKeySet, EmailMessage, Project, Team, TeamMember, User


async def list_projects(db: AsyncSession) -> list[tuple[str, str]]:
    """(id, display name) of every project, oldest first."""
    rows = await db.execute(select(Project.id, Project.display_name).order_by(Project.created_at_millis, Project.id))
    return [(row.id, row.display_name) for row in rows]


async def counts(db: AsyncSession, project_id: str) -> dict[str, int]:
    """Users (signed up and anonymous), users restricted by an admin, teams and caught mail of one project."""
    users = (await db.execute(
        select(User.is_anonymous, func.count()).where(User.project_id == project_id).group_by(User.is_anonymous))).all()
    by_kind = {bool(anonymous): n for anonymous, n in users}
    restricted = await db.scalar(select(func.count()).select_from(User).where(
        User.project_id == project_id, User.restricted_by_admin.is_(True)))
    teams = await db.scalar(select(func.count()).select_from(Team).where(Team.project_id == project_id))
    mail = await db.scalar(select(func.count()).select_from(EmailMessage).where(EmailMessage.project_id == project_id))
    return {"users": by_kind.get(False, 0), "anonymous_users": by_kind.get(True, 0), "restricted_users": restricted,
            "teams": teams, "emails": mail}


async def member_counts(db: AsyncSession, project_id: str) -> dict[str, int]:
    """Members per team id."""
    rows = await db.execute(select(TeamMember.team_id, func.count()).where(TeamMember.project_id == project_id)
                            .group_by(TeamMember.team_id))
    return dict(rows.all())


async def first_key_set(db: AsyncSession, project_id: str) -> ApiKeySet | None:
    """The project's oldest key set that is not revoked (the one the start-up banner prints)."""
    return (await db.execute(select(ApiKeySet).where(ApiKeySet.project_id == project_id,
                                                      ApiKeySet.manually_revoked_at_millis.is_(None))
                             .order_by(ApiKeySet.created_at_millis))).scalars().first()
