"""Emails the platform sends: a built-in template rendered with the project's theme, delivered to the inbox (and
relayed to the project's own SMTP server when `emails.server` names one)."""
from __future__ import annotations

from email.utils import formataddr
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain import email_templates, mail, mail_relay
from emulator.domain.projects import ProjectView

NOREPLY = "noreply@example.com"


def sender(project: ProjectView) -> str:
    """`"senderName" <senderEmail>` of the project's own server, else the shared server's sender."""
    own = mail_relay.sender(project.config["emails"].get("server"), project.display_name)
    return own or formataddr((project.display_name, NOREPLY))  # quotes names with ':' and other specials


def relay_target(project: ProjectView) -> mail_relay.Target | None:
    return mail_relay.target(project.config["emails"].get("server"))


async def send_template(db: AsyncSession, bus: "mail.MailBus", project: ProjectView, to: str, template_key: str,
                        variables: dict[str, Any], *, user_name: str | None = None) -> None:
    theme_id, unrendered_theme = email_templates.resolve_theme(project.config["emails"], None)
    rendered = email_templates.render(template_key, project_name=project.display_name, variables=variables,
                                      theme_id=theme_id, user_name=user_name)
    await mail.send(db, bus, project_id=project.id, to=[to], subject=rendered.subject, html=rendered.html,
                    text=rendered.text, sender=sender(project),
                    extra_headers=email_templates.theme_headers(unrendered_theme), relay=relay_target(project))
