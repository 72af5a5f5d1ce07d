"""Emails the platform sends: a built-in template rendered with the project's theme, delivered to the inbox."""
from __future__ import annotations

from email.utils import formataddr
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain import email_templates, mail
from emulator.domain.projects import ProjectView

NOREPLY = "noreply@example.com"


def sender(project: ProjectView) -> str:
    return formataddr((project.display_name, NOREPLY))  # quotes names with ':' and other specials


async def send_template(db: AsyncSession, bus: "mail.MailBus", project: ProjectView, to: str, template_key: str,
                        variables: dict[str, Any], *, user_name: str | None = None) -> None:
    rendered = email_templates.render(template_key, project_name=project.display_name, variables=variables,
                                      theme_id=project.config["emails"]["selectedThemeId"], user_name=user_name)
    await mail.send(db, bus, project_id=project.id, to=[to], subject=rendered.subject, html=rendered.html,
                    text=rendered.text, sender=sender(project))
