"""Emails the platform sends: a built-in template rendered with the project's theme, delivered to the inbox (and
relayed to the project's own SMTP server when `emails.server` names one)."""
from __future__ import annotations

import logging
from email.utils import formataddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.mail import email_rendering, email_templates, mail, mail_relay
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.mail import renderer
from emulator.store.models import EmailMessage, EmailOutbox, MailRelay

log = logging.getLogger("hexclave.mail")

NOREPLY = "noreply@example.com"


def sender(project: ProjectView) -> str:
    """`"senderName" <senderEmail>` of the project's own server, else the shared server's sender."""
    own = mail_relay.sender(project.config["emails"].get("server"), project.display_name)
    return own or formataddr((project.display_name, NOREPLY))  # quotes names with ':' and other specials


def relay_target(project: ProjectView) -> mail_relay.Target | None:
    return mail_relay.target(project.config["emails"].get("server"))


async def resume_relays(database, bus: mail.MailBus, project_view) -> None:
    """At start-up: platform mail whose relay retry was waiting when the emulator stopped is relayed again now (its
    retry time lived only in the stopped process; an outbox email's is stored, and the outbox worker resumes it
    when due). Without a relay in the project's config any more, the relay is recorded as failed."""
    async with database.session() as db:
        waiting = list((await db.execute(select(MailRelay).where(MailRelay.status == "retrying"))).scalars())
        if not waiting:
            return
        in_outbox = {row.item.get("_message_id") for row in (await db.execute(
            select(EmailOutbox).where(EmailOutbox.status == "scheduled"))).scalars()}
        for row in waiting:
            if row.message_id in in_outbox:
                continue
            message = await db.get(EmailMessage, row.message_id)
            project = await project_view(db, message.project_id) if message and message.project_id else None
            relay = relay_target(project) if project is not None else None
            # At least one attempt failed before (how many was not kept): the retries left are counted from there.
            if relay is None or not await mail.relay_again(db, bus, row.message_id, relay, outbox_id=None,
                                                           attempts_before=1):
                row.status, row.updated_at_millis = "failed", now_millis()
                row.error = "not retried: the project no longer relays its mail (emails.server)"
        await db.commit()


def _built_in(project: ProjectView, template_key: str, variables: dict[str, Any], user_name: str | None,
              headers: list[tuple[str, str]] | None = None) -> "email_rendering.Email":
    rendered = email_templates.render(template_key, project_name=project.display_name, variables=variables,
                                      user_name=user_name)
    return email_rendering.Email(rendered.subject, rendered.html, rendered.text, None, headers or [])


async def send_template(db: AsyncSession, bus: "mail.MailBus", project: ProjectView, to: str, template_key: str,
                        variables: dict[str, Any], *, user_name: str | None = None) -> None:
    """A platform email from the project's template for `template_key` (edited in the config: rendered with node)
    and its theme. A template or theme that fails to render does not stop the flow: the built-in renders instead,
    and the mail's headers and the log say why."""
    template_id = email_templates.TEMPLATE_IDS.get(template_key)
    if template_id is None:  # a notice with no config template on the platform either (API key revoked)
        email = _built_in(project, template_key, variables, user_name)
    else:
        try:
            email = await email_rendering.render_mail(project, template_id=template_id, variables=variables,
                                                      user_name=user_name,
                                                      logos=await email_rendering.project_logos(db, project.id))
        except renderer.RenderError as error:
            log.warning("the project's %s email template or theme could not be rendered, the built-in one is used: "
                        "%s", template_key, error)
            email = _built_in(project, template_key, variables, user_name, [
                (email_templates.TEMPLATE_HEADER, f"{template_key} ({template_id}); NOT rendered, the built-in "
                                                  f"Jinja2 port was used instead: {' '.join(str(error).split())[:500]}")])
    await mail.send(db, bus, project_id=project.id, to=[to], subject=email.subject or "", html=email.html,
                    text=email.text, sender=sender(project), extra_headers=email.headers, relay=relay_target(project))
