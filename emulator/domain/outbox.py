"""Programmatic emails (`POST /emails/send-email`), their outbox rows, delivery stats and the capacity boost.

Rendering happens inside the request: each recipient's row is rendered, then either skipped (no primary email,
unsubscribed) or delivered to the inbox at once, or when `scheduled_at_millis` comes (the background delivery loop).
Rows reach `sent`, `skipped` or `render-error`; with the project's own SMTP server configured (`emails.server`),
`sending` until the relay there ends, then `sent` or `server-error`.

Custom templates from hexclave.config.py are TSX, which the emulator cannot run: their emails still arrive, with a
body that says so and lists the variables (ui/emails/unrendered_template.html).
"""
from __future__ import annotations

import json
import re
import uuid
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain import codes, email_templates, mail, notifications, users
from emulator.domain.emails import relay_target, sender
from emulator.clock import now_millis
from emulator.domain.projects import ProjectView
from emulator.errors import E, StatusError
from emulator.store.models import EmailOutbox, User, VerificationCode

UNSUBSCRIBE_CODE_TYPE = "NOTIFICATION_UNSUBSCRIBE"
UNSUBSCRIBE_LIFETIME_MILLIS = 30 * 24 * 3600 * 1000
TEMPLATE_KEYS = {template_id: key for key, template_id in email_templates.TEMPLATE_IDS.items()}

STATUSES = ("paused", "preparing", "rendering", "render-error", "scheduled", "queued", "sending", "server-error",
            "skipped", "bounced", "delivery-delayed", "sent", "opened", "clicked", "marked-as-spam")
SIMPLE_STATUSES = ("in-progress", "ok", "error")

HOUR = 3600 * 1000
BASE_RATE_PER_HOUR = 100000  # the platform's development default capacity
BOOST_MULTIPLIER = 4
BOOST_MILLIS = 4 * HOUR
_boosts: dict[str, int] = {}  # project id -> boost expiry (in memory: a restart ends a boost)


# ---------------------------------------------------------------- rendering

def _theme(project: ProjectView, theme_id: Any) -> str | bool:
    """The built-in theme to render with: see email_templates.resolve_theme."""
    return email_templates.resolve_theme(project.config["emails"], theme_id)[0]


def _config_template(project: ProjectView, template_id: str | None) -> dict | None:
    """A custom template from hexclave.config.py (built-in ids always render the built-in)."""
    if template_id is None or template_id in TEMPLATE_KEYS:
        return None
    return (project.config["emails"].get("templates") or {}).get(template_id)


def _headers(project: ProjectView, item: dict[str, Any]) -> list[tuple[str, str]]:
    """Headers that say what the emulator could not render (a config template or theme), derived from the item."""
    headers = []
    template_id = item.get("email_programmatic_call_template_id")
    if _config_template(project, template_id) is not None:
        headers.append((email_templates.TEMPLATE_HEADER, f"{template_id} (not rendered)"))
    unrendered_theme = email_templates.resolve_theme(project.config["emails"], item.get("theme_id"))[1]
    return headers + email_templates.theme_headers(unrendered_theme)


def _html_text(body: str) -> str:
    """A text part for raw HTML: the visible text, with each link's address kept next to it."""
    with_hrefs = re.sub(r"""<a\b[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a\s*>""",
                        lambda m: f"{m.group(2)} ({m.group(1)})", body, flags=re.IGNORECASE | re.DOTALL)
    text = mail.html_to_text(with_hrefs)
    return "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip()) + "\n"


def _render(project: ProjectView, user: User, source: dict[str, Any], theme_id: Any,
            unsubscribe_link: str | None) -> tuple[str, str, str]:
    """(subject, html, text) for one recipient; raises jinja2 errors when variables are missing."""
    if "html" in source:
        body = source["html"]
        html = email_templates.wrap(body, subject="", project_name=project.display_name,
                                    theme_id=_theme(project, theme_id), unsubscribe_link=unsubscribe_link)
        text = _html_text(body)
        if unsubscribe_link:
            text += f"\nUnsubscribe: {unsubscribe_link}\n"
        return "", html, text
    custom = _config_template(project, source["template_id"])
    if custom is not None:
        passed = [(name, json.dumps(value, ensure_ascii=False))
                  for name, value in (source.get("variables") or {}).items()]
        rendered = email_templates.render(
            email_templates.UNRENDERED_TEMPLATE, project_name=project.display_name, theme_id=_theme(project, theme_id),
            variables={"template_id": source["template_id"], "passed_variables": passed,
                       "template_name": custom.get("displayName") or "Unnamed Template"},
            user_name=user.display_name, unsubscribe_link=unsubscribe_link)
        return rendered.subject, rendered.html, rendered.text
    key = TEMPLATE_KEYS[source["template_id"]]
    variables = {"projectDisplayName": project.display_name, "userDisplayName": user.display_name,
                 **(source.get("variables") or {})}
    rendered = email_templates.render(key, project_name=project.display_name, variables=variables,
                                      theme_id=_theme(project, theme_id), user_name=user.display_name,
                                      unsubscribe_link=unsubscribe_link)
    return rendered.subject, rendered.html, rendered.text


def _tsx_source(project: ProjectView, source: dict[str, Any]) -> str:
    if "html" in source:
        return ("export function EmailTemplate() {\n  return <div dangerouslySetInnerHTML={{ __html: "
                + repr(source["html"]) + " }} />;\n}\n")
    custom = _config_template(project, source["template_id"])
    if custom is not None:
        return custom.get("tsxSource") or ""
    return f"// built-in template {TEMPLATE_KEYS[source['template_id']]}, rendered by hexclave-emulator\n"


# ---------------------------------------------------------------- sending


async def unsubscribe_link(db: AsyncSession, project: ProjectView, base_url: str, user_id: str,
                           category: notifications.Category) -> str:
    code = await codes.issue(db, project.id, UNSUBSCRIBE_CODE_TYPE,
                             {"user_id": user_id, "notification_category_id": category.id},
                             expires_in_millis=UNSUBSCRIBE_LIFETIME_MILLIS)
    return f"{base_url}/api/v1/emails/unsubscribe-link?code={code}"


async def send_email(db: AsyncSession, bus: mail.MailBus, project: ProjectView, base_url: str,
                     body: dict[str, Any]) -> list[dict[str, str]]:
    """Validate the whole request first (nothing is sent if any user id is unknown), then one row per user."""
    if ("template_id" in body and body["template_id"] not in TEMPLATE_KEYS
            and _config_template(project, body["template_id"]) is None):
        raise StatusError(400, "No template found with given template_id")
    category = (notifications.by_name(body["notification_category_name"])
                if body.get("notification_category_name") is not None else notifications.TRANSACTIONAL)
    theme_id = body.get("theme_id")  # unknown ids fall back to the project's theme, as upstream
    if body.get("all_users"):
        recipients = list((await db.execute(select(User).where(User.project_id == project.id)
                                            .order_by(User.signed_up_at_millis))).unique().scalars())
    else:
        recipients = []
        for user_id in dict.fromkeys(body["user_ids"]):
            user = await users.get(db, project, user_id)
            if user is None:
                raise E.user_id_does_not_exist(user_id)
            recipients.append(user)
    source = {k: body[k] for k in ("html", "template_id", "variables") if k in body}
    for user in recipients:
        await _send_one(db, bus, project, base_url, user, source, body, category, theme_id)
    return [{"user_id": user.id} for user in recipients]


async def _send_one(db: AsyncSession, bus: mail.MailBus, project: ProjectView, base_url: str, user: User,
                    source: dict[str, Any], body: dict[str, Any], category: notifications.Category,
                    theme_id: Any) -> None:
    now = now_millis()
    item: dict[str, Any] = {
        "id": str(uuid.uuid4()), "created_at_millis": now, "updated_at_millis": now,
        "tsx_source": _tsx_source(project, source), "theme_id": theme_id, "to": {"type": "user-primary-email",
                                                                         "user_id": user.id},
        "variables": source.get("variables") or {}, "skip_deliverability_check": False,
        "scheduled_at_millis": body.get("scheduled_at_millis") or now,
        "created_with": "programmatic-call", "email_draft_id": None,
        "email_programmatic_call_template_id": source.get("template_id"),
        "send_retries": 0, "next_send_retry_at_millis": None, "send_attempt_errors": [],
        "is_paused": False, "has_rendered": False, "has_delivered": False,
        "started_rendering_at_millis": now,
    }
    link = (await unsubscribe_link(db, project, base_url, user.id, category)) if category.can_disable else None
    import jinja2

    try:
        subject, html, text = _render(project, user, source, theme_id, link)
    except jinja2.TemplateError as error:
        message = str(error) if isinstance(error, jinja2.UndefinedError) else "the template could not be rendered"
        item.update(status="render-error", simple_status="error", render_error=f"Variables are invalid: {message}",
                    rendered_at_millis=now_millis(), render_error_at_millis=now_millis())
        return _save(db, project, item)
    if body.get("subject") is not None:
        subject = body["subject"]
    item.update(has_rendered=True, rendered_at_millis=now_millis(), subject=subject, html=html, text=text,
                is_transactional=not category.can_disable, is_high_priority=bool(body.get("is_high_priority")),
                notification_category_id=category.id)
    if item["scheduled_at_millis"] > now_millis():
        item.update(status="scheduled", simple_status="in-progress")  # the delivery loop sends it when due
        return _save(db, project, item)
    await _deliver(db, bus, project, user, item)
    _save(db, project, item)


async def _deliver(db: AsyncSession, bus: mail.MailBus, project: ProjectView, user: User | None,
                   item: dict[str, Any]) -> None:
    """Send a rendered item to the user's current primary email, or mark why it was skipped."""
    primary = users.primary_channel(user) if user is not None else None
    skipped = None
    if user is None:
        skipped = "USER_ACCOUNT_DELETED"
    elif primary is None:
        skipped = "USER_HAS_NO_PRIMARY_EMAIL"
    elif not await notifications.is_enabled(db, user.id, notifications.by_id(item["notification_category_id"])):
        skipped = "USER_UNSUBSCRIBED"
    if skipped:
        item.update(status="skipped", simple_status="ok", skipped_reason=skipped, skipped_details={},
                    skipped_at_millis=now_millis(), updated_at_millis=now_millis())
        return
    item["started_sending_at_millis"] = now_millis()
    relay = relay_target(project)
    await mail.send(db, bus, project_id=project.id, to=[primary.value], subject=item["subject"], html=item["html"],
                    text=item["text"], sender=sender(project), extra_headers=_headers(project, item), relay=relay,
                    outbox_id=item["id"])
    done = now_millis()
    if relay is not None:  # in the inbox already; `sent` once the project's server took it (relay_finished)
        item.update(status="sending", simple_status="in-progress", can_have_delivery_info=False,
                    updated_at_millis=done)
        return
    item.update(status="sent", simple_status="ok", has_delivered=True, delivered_at_millis=done,
                can_have_delivery_info=False, updated_at_millis=done)


async def relay_finished(db: AsyncSession, outbox_id: str, server: str, error: str | None) -> None:
    """Record on the outbox item how relaying it to the project's SMTP server went."""
    row = await db.get(EmailOutbox, outbox_id)
    if row is None or row.item.get("status") != "sending":
        return
    item, done = dict(row.item), now_millis()
    if error is None:
        item.update(status="sent", simple_status="ok", has_delivered=True, delivered_at_millis=done,
                    updated_at_millis=done)
    else:
        message = f"Relaying to the project's SMTP server {server} failed: {error}"
        item.update(status="server-error", simple_status="error", error_at_millis=done, server_error=message,
                    updated_at_millis=done, send_attempt_errors=[*(item.get("send_attempt_errors") or []), {
                        "attempt_number": len(item.get("send_attempt_errors") or []) + 1, "timestamp": _iso(done),
                        "external_message": message, "external_details": {}, "internal_message": message,
                        "internal_details": {"server": server}}])
    _store(row, item)


async def deliver_due(db: AsyncSession, bus: mail.MailBus, project_view) -> int:
    """Send every scheduled, unpaused email whose time has come. `project_view(db, id)` gives a ProjectView."""
    now = now_millis()
    rows = [row for row in (await db.execute(select(EmailOutbox).where(EmailOutbox.status == "scheduled"))).scalars()
            if row.item["scheduled_at_millis"] <= now]
    for row in rows:
        item = dict(row.item)
        project = await project_view(db, row.project_id)
        user = await db.get(User, item["to"]["user_id"])
        if project is None:
            continue
        await _deliver(db, bus, project, user, item)
        _store(row, item)
    return len(rows)


EDITABLE = ("paused", "preparing", "rendering", "render-error", "scheduled", "queued", "server-error")


async def update_outbox(db: AsyncSession, project: ProjectView, outbox_id: str, body: dict[str, Any]) -> dict:
    """Pause, resume, cancel or reschedule an email that has not gone out yet."""
    row = await _row(db, project, outbox_id)
    item = dict(row.item)
    if item["status"] not in EDITABLE:
        raise E.email_not_editable(outbox_id, item["status"])
    if {"tsx_source", "theme_id", "to", "variables"} & body.keys():
        raise E.not_supported("Changing the content or recipient of an outbox email")
    now = now_millis()
    if body.get("cancel"):
        item.update(status="skipped", simple_status="ok", skipped_reason="MANUALLY_CANCELLED", skipped_details={},
                    skipped_at_millis=now)
    else:
        for field in ("scheduled_at_millis", "skip_deliverability_check", "is_paused"):
            if field in body:
                item[field] = body[field]
        if item["status"] in ("paused", "scheduled"):
            item.update(status="paused" if item["is_paused"] else "scheduled", simple_status="in-progress")
    item["updated_at_millis"] = now
    _store(row, item)
    return item


def _store(row: EmailOutbox, item: dict[str, Any]) -> None:
    row.item, row.status, row.simple_status = item, item["status"], item["simple_status"]
    row.delivered_at_millis = item.get("delivered_at_millis")


def _save(db: AsyncSession, project: ProjectView, item: dict[str, Any]) -> None:
    db.add(EmailOutbox(id=item["id"], project_id=project.id, created_at_millis=item["created_at_millis"],
                       status=item["status"], simple_status=item["simple_status"],
                       delivered_at_millis=item.get("delivered_at_millis"), item=item))


# ---------------------------------------------------------------- outbox reads

async def list_outbox(db: AsyncSession, project: ProjectView, query: dict[str, Any]) -> dict[str, Any]:
    stmt = select(EmailOutbox).where(EmailOutbox.project_id == project.id)
    if query.get("status"):
        stmt = stmt.where(EmailOutbox.status == query["status"])
    if query.get("simple_status"):
        stmt = stmt.where(EmailOutbox.simple_status == query["simple_status"])
    newest_first = (EmailOutbox.created_at_millis.desc(), literal_column("email_outbox.rowid").desc())
    rows = list((await db.execute(stmt.order_by(*newest_first))).scalars())
    start = 0
    if query.get("cursor"):
        ids = [row.id for row in rows]
        if query["cursor"] not in ids:
            raise StatusError(400, "Invalid cursor: no outbox email with this id matches the query")
        start = ids.index(query["cursor"])
    limit = query.get("limit") or 100
    page = rows[start:start + limit]
    following = rows[start + limit] if len(rows) > start + limit else None
    return {"items": [row.item for row in page], "is_paginated": True,
            "pagination": {"next_cursor": following.id if following else None}}


async def _row(db: AsyncSession, project: ProjectView, outbox_id: str) -> EmailOutbox:
    row = await db.get(EmailOutbox, outbox_id)
    if row is None or row.project_id != project.id:
        raise StatusError(404, "Email not found in the outbox")
    return row


async def get_outbox(db: AsyncSession, project: ProjectView, outbox_id: str) -> dict[str, Any]:
    return (await _row(db, project, outbox_id)).item


# ---------------------------------------------------------------- unsubscribe

async def unsubscribe(db: AsyncSession, code: str) -> bool:
    """Use an unsubscribe code; False when it was used before."""
    if len(code) != codes.CODE_LENGTH:
        raise StatusError(400, "Invalid code")
    row = (await db.execute(select(VerificationCode).where(VerificationCode.type == UNSUBSCRIBE_CODE_TYPE,
                                                           VerificationCode.code == code.lower()))
           ).scalar_one_or_none()
    if row is None:
        raise E.verification_code_not_found()
    if row.used_at_millis is not None:
        return False
    if row.expires_at_millis <= now_millis():
        raise E.verification_code_expired()
    row.used_at_millis = now_millis()
    user = await db.get(User, row.data["user_id"])
    if user is not None:
        await notifications.set_enabled(db, user, notifications.by_id(row.data["notification_category_id"]), False)
    await db.flush()
    return True


# ---------------------------------------------------------------- delivery info and capacity

def _boost_expiry(project: ProjectView) -> int | None:
    expires = _boosts.get(project.id)
    return expires if expires is not None and expires > now_millis() else None


async def delivery_info(db: AsyncSession, project: ProjectView) -> dict[str, Any]:
    now = now_millis()
    stats = {}
    for name, span in (("hour", HOUR), ("day", 24 * HOUR), ("week", 7 * 24 * HOUR), ("month", 30 * 24 * HOUR)):
        sent = (await db.execute(select(func.count()).select_from(EmailOutbox).where(
            EmailOutbox.project_id == project.id, EmailOutbox.delivered_at_millis.is_not(None),
            EmailOutbox.delivered_at_millis > now - span))).scalar_one()
        stats[name] = {"sent": sent, "bounced": 0, "marked_as_spam": 0}
    expires = _boost_expiry(project)
    multiplier = BOOST_MULTIPLIER if expires else 1
    return {"stats": stats, "capacity": {
        "rate_per_second": BASE_RATE_PER_HOUR * multiplier / 3600, "boost_multiplier": multiplier,
        "penalty_factor": 1, "is_boost_active": expires is not None,
        "boost_expires_at": _iso(expires) if expires else None}}


def _iso(millis: int) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def capacity_boost(project: ProjectView) -> dict[str, Any]:
    expires = _boost_expiry(project)
    if expires is not None:
        raise E.email_capacity_boost_already_active(_iso(expires))
    expires = now_millis() + BOOST_MILLIS
    _boosts[project.id] = expires
    return {"expires_at": _iso(expires)}
