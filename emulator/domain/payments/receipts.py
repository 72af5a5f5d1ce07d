"""Payment emails: a user customer gets them at its primary email; a team customer's team_admins each get one."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain import emails, permissions
from emulator.domain.projects import ProjectView
from emulator.store.models import ContactChannel, User


async def recipients(db: AsyncSession, project: ProjectView, customer_type: str, customer_id: str) -> list[str]:
    if customer_type == "user":
        user_ids = [customer_id]
    elif customer_type == "team":
        grants = await permissions.list_team_permissions(db, project, team_id=customer_id,
                                                         permission_id="team_admin", recursive=True)
        user_ids = sorted({g["user_id"] for g in grants})
    else:
        return []
    rows = (await db.execute(select(ContactChannel.user_id, ContactChannel.value).where(
        ContactChannel.project_id == project.id, ContactChannel.user_id.in_(user_ids),
        ContactChannel.is_primary.is_(True), ContactChannel.type == "email"))).all()
    return [value for _, value in sorted(rows, key=lambda r: user_ids.index(r[0]))]


async def send(db: AsyncSession, bus, project: ProjectView, customer_type: str, customer_id: str, template: str,
               variables: dict[str, Any]) -> None:
    for to in await recipients(db, project, customer_type, customer_id):
        user_name = None
        if customer_type == "user":
            user = await db.get(User, customer_id)
            user_name = user.display_name if user else None
        await emails.send_template(db, bus, project, to, template, variables, user_name=user_name)
