"""The dashboard's email surface: themes and templates (kept in the project's environment-level config, as the
platform keeps them), drafts (rows), previews (`/emails/render-email`) and the sent-email log (`/internal/emails`)."""
from __future__ import annotations

import asyncio
import uuid
from email.utils import formataddr
from typing import Any

from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.projects import config_levels
from emulator.domain.mail import email_builtins, email_rendering, mail, mail_relay
from emulator.domain.mail.email_rendering import emails_config, render_tsx
from emulator.domain.projects.projects import ProjectDirectory, ProjectView
from emulator.errors import E, StatusError
from emulator.store.models import EmailDraft, EmailMessage, EmailOutbox

# What a changed theme must render (in preview mode) before it is saved.
THEME_CHECK_TEMPLATE = """export const variablesSchema = v => v;
export function EmailTemplate() {
  return <p>This paragraph stands for the email.</p>;
}
"""


async def _override(db: AsyncSession, directory: ProjectDirectory, project: ProjectView, change: dict[str, Any]):
    await config_levels.patch(db, directory, project.id, "environment", change)


def require_custom_server(project: ProjectView) -> None:
    """Custom emails (send-email, template edits) need the project's own email server, as on the platform."""
    if (emails_config(project).get("server") or {}).get("isShared", True) is not False:
        raise E.requires_custom_email_server()


async def _preview_input(db: AsyncSession, project: ProjectView) -> dict[str, Any]:
    return {"project": {"displayName": project.display_name}, "preview": True,
            "theme_props": {"projectLogos": await email_rendering.project_logos(db, project.id)}}


# ---------------------------------------------------------------- themes

def _theme_or_404(project: ProjectView, theme_id: str) -> dict[str, str]:
    theme = (emails_config(project).get("themes") or {}).get(theme_id)
    if theme is None:
        raise StatusError(404, "No theme found with given id")
    return theme


def list_themes(project: ProjectView) -> dict[str, Any]:
    return {"themes": [{"id": theme_id, "display_name": theme["displayName"]}
                       for theme_id, theme in (emails_config(project).get("themes") or {}).items()]}


def get_theme(project: ProjectView, theme_id: str) -> dict[str, Any]:
    theme = _theme_or_404(project, theme_id)
    return {"id": theme_id, "display_name": theme["displayName"], "tsx_source": theme["tsxSource"]}


async def create_theme(db: AsyncSession, directory: ProjectDirectory, project: ProjectView,
                       display_name: str) -> dict[str, Any]:
    theme_id = str(uuid.uuid4())
    await _override(db, directory, project, {f"emails.themes.{theme_id}": {
        "displayName": display_name, "tsxSource": email_builtins.LIGHT_THEME}})
    return {"id": theme_id}


async def update_theme(db: AsyncSession, directory: ProjectDirectory, project: ProjectView, theme_id: str,
                       tsx_source: str) -> dict[str, Any]:
    theme = _theme_or_404(project, theme_id)
    await render_tsx(THEME_CHECK_TEMPLATE, tsx_source, **await _preview_input(db, project))
    await _override(db, directory, project, {f"emails.themes.{theme_id}.tsxSource": tsx_source})
    return {"display_name": theme["displayName"]}


# ---------------------------------------------------------------- templates

def list_templates(project: ProjectView) -> dict[str, Any]:
    items = []
    for template_id, template in (emails_config(project).get("templates") or {}).items():
        item = {"id": template_id, "display_name": template["displayName"], "tsx_source": template["tsxSource"]}
        if template.get("themeId") is not None:
            item["theme_id"] = template["themeId"]
        items.append(item)
    return {"templates": items}


async def create_template(db: AsyncSession, directory: ProjectDirectory, project: ProjectView,
                          display_name: str) -> dict[str, Any]:
    require_custom_server(project)
    template_id = str(uuid.uuid4())
    await _override(db, directory, project, {f"emails.templates.{template_id}": {
        "displayName": display_name, "tsxSource": email_builtins.NEW_TEMPLATE, "themeId": None}})
    return {"id": template_id}


def _template_or_404(project: ProjectView, template_id: str) -> dict[str, Any]:
    template = (emails_config(project).get("templates") or {}).get(template_id)
    if template is None:
        raise StatusError(404, "No template found with given id")
    return template


async def update_template(db: AsyncSession, directory: ProjectDirectory, project: ProjectView, template_id: str,
                          body: dict[str, Any]) -> dict[str, Any]:
    """Save a template's new source once it renders (in preview mode, with the project's selected theme)."""
    require_custom_server(project)
    _template_or_404(project, template_id)
    _, theme = email_rendering.theme_for(project, None)
    rendered = await render_tsx(body["tsx_source"], theme["tsxSource"],
                                variables={"projectDisplayName": project.display_name},
                                **await _preview_input(db, project))
    if rendered.subject is None:
        raise E.email_rendering_error("Subject is required, import it from @stackframe/emails")
    if rendered.notification_category is None:
        raise E.email_rendering_error("NotificationCategory is required, import it from @stackframe/emails")
    change: dict[str, Any] = {f"emails.templates.{template_id}.tsxSource": body["tsx_source"]}
    if "theme_id" in body:
        change[f"emails.templates.{template_id}.themeId"] = body["theme_id"]
    await _override(db, directory, project, change)
    return {"rendered_html": rendered.html}


async def delete_template(db: AsyncSession, directory: ProjectDirectory, project: ProjectView,
                          template_id: str) -> dict[str, Any]:
    require_custom_server(project)
    _template_or_404(project, template_id)
    await _override(db, directory, project, {f"emails.templates.{template_id}": None})
    return {}


# ---------------------------------------------------------------- drafts

def draft_shape(draft: EmailDraft) -> dict[str, Any]:
    shape = {"id": draft.id, "display_name": draft.display_name, "tsx_source": draft.tsx_source,
             "theme_id": draft.theme_id, "sent_at_millis": draft.sent_at_millis}
    if draft.theme_id is None:  # the project's theme: no theme_id on the wire
        del shape["theme_id"]
    return shape


async def _draft_or_404(db: AsyncSession, project: ProjectView, draft_id: str) -> EmailDraft:
    draft = await db.get(EmailDraft, draft_id)
    if draft is None or draft.project_id != project.id:
        raise StatusError(404, "No draft found with given id")
    return draft


async def list_drafts(db: AsyncSession, project: ProjectView) -> dict[str, Any]:
    rows = (await db.execute(select(EmailDraft).where(EmailDraft.project_id == project.id).order_by(
        EmailDraft.updated_at_millis.desc(), literal_column("email_drafts.rowid").desc()))).scalars()
    return {"drafts": [draft_shape(draft) for draft in rows]}


async def get_draft(db: AsyncSession, project: ProjectView, draft_id: str) -> dict[str, Any]:
    return draft_shape(await _draft_or_404(db, project, draft_id))


async def create_draft(db: AsyncSession, project: ProjectView, body: dict[str, Any]) -> dict[str, Any]:
    draft = EmailDraft(id=str(uuid.uuid4()), project_id=project.id, display_name=body["display_name"],
                       tsx_source=body.get("tsx_source") or email_builtins.NEW_DRAFT,
                       theme_id=body.get("theme_id"), sent_at_millis=None, updated_at_millis=now_millis())
    db.add(draft)
    await db.flush()
    return {"id": draft.id}


async def update_draft(db: AsyncSession, project: ProjectView, draft_id: str, body: dict[str, Any]) -> dict[str, Any]:
    draft = await _draft_or_404(db, project, draft_id)
    if "display_name" in body:
        draft.display_name = body["display_name"]
    if "tsx_source" in body:
        draft.tsx_source = body["tsx_source"]
    draft.theme_id = body.get("theme_id")  # as upstream: a PATCH without theme_id goes back to the project's theme
    draft.updated_at_millis = now_millis()
    return {"ok": "ok"}


async def delete_draft(db: AsyncSession, project: ProjectView, draft_id: str) -> dict[str, Any]:
    await db.delete(await _draft_or_404(db, project, draft_id))
    return {"ok": "ok"}


# ---------------------------------------------------------------- the dashboard's "send a test email"

TEST_EMAIL_TIMEOUT_SECONDS = 10


async def send_test_email(bus: mail.MailBus, recipient: str, config: dict[str, Any]) -> dict[str, Any]:
    """Try an SMTP server configuration: one plain email straight to it (not through the inbox), as the platform
    does; `success`, or `error_message` saying why not."""
    target = mail_relay.Target(config["host"], config["port"], config["username"] or None,
                               config["password"] or None, config["sender_email"])
    raw = mail.build(to=[recipient], subject="Test email from hexclave-emulator", html="",
                     text="This test email shows that the email server configuration works.",
                     sender=formataddr((config["sender_name"], config["sender_email"])))
    try:
        await asyncio.wait_for(asyncio.to_thread(mail_relay.send_once, target, raw, config["sender_email"],
                                                 [recipient], bus.own_smtp), TEST_EMAIL_TIMEOUT_SECONDS)
    except asyncio.TimeoutError:
        return {"success": False, "error_message": "Timed out while sending the test email. Make sure the email "
                                                   "server is running and accepting connections."}
    except Exception as error:
        return {"success": False, "error_message": mail_relay.describe(error)}
    return {"success": True}


# ---------------------------------------------------------------- previews and the sent-email log

async def render_email(db: AsyncSession, project: ProjectView, body: dict[str, Any]) -> dict[str, Any]:
    """Preview a template (by id or TSX) inside a theme (by id, False for none, or TSX)."""
    if "theme_tsx_source" in body:
        theme_source = body["theme_tsx_source"]
    else:
        theme_id = body.get("theme_id")
        if isinstance(theme_id, str) and theme_id not in (emails_config(project).get("themes") or {}):
            raise StatusError(400, "No theme found with given id")
        theme_source = email_rendering.theme_for(project, theme_id)[1]["tsxSource"]
    if "template_tsx_source" in body:
        template_source = body["template_tsx_source"]
    else:
        template = (emails_config(project).get("templates") or {}).get(body["template_id"])
        if template is None:
            raise StatusError(400, "No template found with given id")
        template_source = template["tsxSource"]
    rendered = await render_tsx(template_source, theme_source, **await _preview_input(db, project))
    out: dict[str, Any] = {"html": rendered.html}
    if rendered.subject is not None:
        out["subject"] = rendered.subject
    if rendered.notification_category is not None:
        out["notification_category"] = rendered.notification_category
    return out


async def sent_emails(db: AsyncSession, project: ProjectView) -> dict[str, Any]:
    """The project's last 100 emails, newest first, in the dashboard's short form: every email the platform sent
    for it (sign-in codes, verification, send-email...) and the send-email calls that failed to render or send."""
    messages = (await db.execute(select(EmailMessage).where(
        EmailMessage.project_id == project.id, EmailMessage.source == "platform").order_by(
        EmailMessage.created_at_millis.desc()).limit(100))).scalars()
    items = [(m.created_at_millis, {"id": m.id, "subject": m.subject or "", "sent_at_millis": m.created_at_millis,
                                    "to": list(m.recipients or []), "error": None}) for m in messages]
    failed = (await db.execute(select(EmailOutbox).where(
        EmailOutbox.project_id == project.id, EmailOutbox.status.in_(("render-error", "server-error"))).order_by(
        EmailOutbox.created_at_millis.desc()).limit(100))).scalars()
    for row in failed:
        item = row.item
        error = (f"Render error: {item['render_error']}" if item.get("render_error")
                 else f"Send error: {item.get('server_error')}")
        items.append((row.created_at_millis, {
            "id": row.id, "subject": item.get("subject") or "", "sent_at_millis": row.created_at_millis,
            "to": [f"User ID: {item['to']['user_id']}"], "error": error}))
    items.sort(key=lambda pair: -pair[0])
    return {"items": [item for _, item in items[:100]], "is_paginated": False}
