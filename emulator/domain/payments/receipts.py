"""Payment emails: a user customer gets them at its primary email; a team customer's team_admins each get one.

They go through the email outbox like the platform's (a programmatic send of the built-in template, high priority,
transactional), so `GET /emails/outbox` lists them with their variables."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.mail import email_templates, outbox
from emulator.domain.teams import permissions
from emulator.domain.projects.projects import ProjectView
from emulator.store.models import User


async def recipients(db: AsyncSession, project: ProjectView, customer_type: str, customer_id: str) -> list[str]:
    """The ids of the users who get a customer's payment emails (custom customers have none)."""
    if customer_type == "user":
        user_ids = [customer_id]
    elif customer_type == "team":
        grants = await permissions.list_team_permissions(db, project, team_id=customer_id,
                                                         permission_id="team_admin", recursive=True)
        user_ids = sorted({g["user_id"] for g in grants})
    else:
        return []
    existing = set((await db.execute(select(User.id).where(User.project_id == project.id,
                                                           User.id.in_(user_ids)))).scalars())
    return [user_id for user_id in user_ids if user_id in existing]


async def send(db: AsyncSession, bus, project: ProjectView, customer_type: str, customer_id: str, template: str,
               variables: dict[str, Any]) -> None:
    user_ids = await recipients(db, project, customer_type, customer_id)
    if user_ids:
        # Transactional mail has no unsubscribe link, so no base URL is needed to build one.
        await outbox.send_email(db, bus, project, "", {
            "user_ids": user_ids, "template_id": email_templates.TEMPLATE_IDS[template], "variables": variables,
            "is_high_priority": True})
