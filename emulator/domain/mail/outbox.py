"""Programmatic emails (`POST /emails/send-email`), their outbox rows, delivery stats and the capacity boost.

Rendering happens inside the request: each recipient's row is rendered, then either skipped (no primary email,
unsubscribed) or delivered to the inbox at once, or when `scheduled_at_millis` comes (the background delivery loop).
Rows reach `sent` (once in the inbox), `skipped` or `render-error`; with the project's own SMTP server configured
(`emails.server`), a relay there that fails turns a `sent` row into `server-error`, or, for a temporary failure,
back to `scheduled` until its retry (`send_retries`, `next_send_retry_at_millis`, `send_attempt_errors`; see
mail_relay).

Templates and drafts are TSX, rendered with node (emulator.domain.mail.email_rendering); without node their emails still
arrive, with a body that says so and lists the variables (ui/emails/unrendered_template.html).
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.auth import codes
from emulator.domain.mail import email_rendering, mail, mail_relay
from emulator.domain.users import notifications, users
from emulator.domain.mail.emails import relay_target, sender
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E, StatusError
from emulator.mail import renderer
from emulator.store.models import EmailDraft, EmailOutbox, User, VerificationCode

UNSUBSCRIBE_CODE_TYPE = "NOTIFICATION_UNSUBSCRIBE"
UNSUBSCRIBE_LIFETIME_MILLIS = 30 * 24 * 3600 * 1000

STATUSES = ("paused", "preparing", "rendering", "render-error", "scheduled", "queued", "sending", "server-error",
            "skipped", "bounced", "delivery-delayed", "sent", "opened", "clicked", "marked-as-spam")
SIMPLE_STATUSES = ("in-progress", "ok", "error")

HOUR = 3600 * 1000
BASE_RATE_PER_HOUR = 100000  # the platform's development default capacity
BOOST_MULTIPLIER = 4
BOOST_MILLIS = 4 * HOUR
_boosts: dict[str, int] = {}  # project id -> boost expiry (in memory: a restart ends a boost)


# ---------------------------------------------------------------- rendering

async def _render(project: ProjectView, user_name: str | None, item: dict[str, Any], unsubscribe_link: str | None,
                  logos: dict[str, str]) -> email_rendering.Email:
    """Render an outbox item for its user: its config template, its TSX (a draft, or an edit), or its html."""
    source = item["_source"]
    return await email_rendering.render_mail(
        project, template_id=source.get("template_id"), html=source.get("html"),
        tsx_source=source.get("tsx_source"), theme_id=False if item.get("theme_id") is None else item["theme_id"],
        variables=item.get("variables") or {},
        user_name=user_name, unsubscribe_link=unsubscribe_link, template_name=source.get("name"), logos=logos)


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
    templates = email_rendering.emails_config(project).get("templates") or {}
    if "template_id" in body and body["template_id"] not in templates:
        raise StatusError(400, "No template found with given template_id")
    category = (notifications.by_name(body["notification_category_name"])
                if body.get("notification_category_name") is not None else None)
    theme_id = body.get("theme_id")  # unknown ids fall back to the project's theme, as upstream
    draft = None
    if "draft_id" in body:
        draft = await db.get(EmailDraft, body["draft_id"])
        if draft is None or draft.project_id != project.id:
            raise StatusError(400, "No draft found with given draft_id")
        if "theme_id" not in body:
            theme_id = draft.theme_id
    # As the platform stores it: null for no theme, else a theme id (the project's selected one by default).
    selected = email_rendering.emails_config(project).get("selectedThemeId")
    theme_id = None if theme_id is False else (theme_id or selected)
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
    if draft is not None:
        source = {"tsx_source": draft.tsx_source, "name": draft.display_name}
        tsx_source = draft.tsx_source
    elif "html" in body:
        source, tsx_source = {"html": body["html"]}, email_rendering.html_template(body["html"])
    else:
        source, tsx_source = {"template_id": body["template_id"]}, templates[body["template_id"]].get("tsxSource")
    for user in recipients:
        now = now_millis()
        item: dict[str, Any] = {
            "id": str(uuid.uuid4()), "created_at_millis": now, "updated_at_millis": now,
            "tsx_source": tsx_source, "theme_id": theme_id, "to": {"type": "user-primary-email", "user_id": user.id},
            "variables": body.get("variables") or {}, "skip_deliverability_check": False,
            "scheduled_at_millis": body.get("scheduled_at_millis") or now,
            "created_with": "draft" if draft else "programmatic-call",
            "email_draft_id": draft.id if draft else None,
            "email_programmatic_call_template_id": source.get("template_id"),
            "send_retries": 0, "next_send_retry_at_millis": None, "send_attempt_errors": None,
            "is_paused": False, "has_rendered": False, "has_delivered": False,
            "_source": source, "_subject": body.get("subject"), "_category": category.id if category else None,
            "_high_priority": bool(body.get("is_high_priority")),
        }
        item.update(status="preparing", simple_status="in-progress")  # the outbox worker renders and sends it
        _save(db, project, item)
    if draft is not None:
        draft.sent_at_millis = now_millis()
    return [{"user_id": user.id} for user in recipients]


async def _render_item(project: ProjectView, user_name: str | None, item: dict[str, Any], make_link,
                       logos: dict[str, str]) -> None:
    """Render an item for its user: status `rendered` (for the caller to go on with), or `render-error`.

    The category is the request's, else the template's <NotificationCategory>; a category users can unsubscribe
    from gets the unsubscribe link (`await make_link(category)`), which may take a second rendering."""
    import jinja2  # only once an email is rendered: keeps start-up short

    category = notifications.by_id(item["_category"]) if item.get("_category") else None
    link = None
    try:
        if category is not None and category.can_disable:
            link = await make_link(category)
        email = await _render(project, user_name, item, link, logos)
        if category is None:
            category = notifications.TRANSACTIONAL
            if email.notification_category is not None:
                category = notifications.by_name(email.notification_category)
            if category.can_disable:
                link = await make_link(category)
                email = await _render(project, user_name, item, link, logos)
    except (renderer.RenderError, StatusError, jinja2.TemplateError) as error:
        if isinstance(error, jinja2.UndefinedError):
            message = f"Variables are invalid: {error}"
        elif isinstance(error, jinja2.TemplateError):
            message = "Variables are invalid: the template could not be rendered"
        else:
            message = str(error)
        done = now_millis()
        item.update(status="render-error", simple_status="error", render_error=message, rendered_at_millis=done,
                    render_error_at_millis=done, updated_at_millis=done)
        return
    subject = item["_subject"] if item.get("_subject") is not None else (email.subject or "")
    item.update(status="rendered", has_rendered=True, rendered_at_millis=now_millis(), subject=subject,
                html=email.html, text=email.text, is_transactional=not category.can_disable,
                is_high_priority=item["_high_priority"], notification_category_id=category.id,
                _headers=[list(h) for h in email.headers])
    for stale in ("render_error", "render_error_at_millis"):
        item.pop(stale, None)


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
    item["started_sending_at_millis"] = now_millis()  # these checks are the sending phase's, as on the platform
    if skipped:
        item.update(status="skipped", simple_status="ok", skipped_reason=skipped, skipped_details={},
                    skipped_at_millis=now_millis(), updated_at_millis=now_millis())
        return
    relay = relay_target(project)
    message = await mail.send(db, bus, project_id=project.id, to=[primary.value], subject=item["subject"],
                              html=item["html"], text=item["text"], sender=sender(project), relay=relay,
                              extra_headers=[tuple(h) for h in item.get("_headers") or ()],
                              outbox_id=item["id"], relay_attempts_before=item.get("send_retries") or 0)
    item["_message_id"] = message.id  # a relay retry after a restart relays this copy again (_relay_again)
    done = now_millis()  # in the inbox: sent (a relay to the project's own server that fails turns it to server-error)
    item.update(status="sent", simple_status="ok", has_delivered=True, delivered_at_millis=done,
                can_have_delivery_info=False, updated_at_millis=done, next_send_retry_at_millis=None)


async def relay_finished(db: AsyncSession, outbox_id: str, server: str, attempt: int,
                         failure: "mail_relay.Failure | None", retry_at: int | None) -> bool:
    """Record a relay attempt to the project's SMTP server on its outbox item, as the platform records its sending
    attempts: a success after retries is `sent`; a temporary failure is `scheduled` again for `retry_at`; anything
    else is `server-error`. False when the item moved on meanwhile (cancelled, paused, edited): no more retries."""
    row = await db.get(EmailOutbox, outbox_id)
    if row is None or row.item.get("status") not in ("sent", "sending"):
        return False
    item, done = dict(row.item), now_millis()
    if failure is None:
        if item["status"] == "sending":  # a retry went through
            item.update(status="sent", simple_status="ok", has_delivered=True, delivered_at_millis=done,
                        can_have_delivery_info=False, updated_at_millis=done)
            _store(row, item)
        return False
    message = f"Relaying to the project's SMTP server {server} failed: {failure.message}"
    attempts = [*(item.get("send_attempt_errors") or []), {
        "attempt_number": attempt, "timestamp": _iso(done),
        "external_message": message, "external_details": {"errorType": failure.error_type},
        "internal_message": message, "internal_details": {"errorType": failure.error_type, "server": server}}]
    item.update(send_retries=attempt, send_attempt_errors=attempts, has_delivered=False, updated_at_millis=done)
    item.pop("delivered_at_millis", None)
    if retry_at is not None:  # waiting, as the platform's unclaimed email: not sending, no outcome yet
        item.update(status="scheduled", simple_status="in-progress", next_send_retry_at_millis=retry_at)
        for stale in ("started_sending_at_millis", "can_have_delivery_info"):
            item.pop(stale, None)
    else:
        item.update(status="server-error", simple_status="error", error_at_millis=done, server_error=message,
                    next_send_retry_at_millis=None, can_have_delivery_info=False)
        item.setdefault("started_sending_at_millis", done)
    _store(row, item)
    return retry_at is not None


async def relay_retry_starts(db: AsyncSession, outbox_id: str, retry_at: int) -> bool:
    """The retry of an item is due: `sending` again, if it still waits for that retry (else False: no retry)."""
    row = await db.get(EmailOutbox, outbox_id)
    if row is None or row.item.get("status") != "scheduled" or row.item.get("next_send_retry_at_millis") != retry_at:
        return False
    item, now = dict(row.item), now_millis()
    item.update(status="sending", simple_status="in-progress", next_send_retry_at_millis=None,
                started_sending_at_millis=now, updated_at_millis=now)
    _store(row, item)
    return True


async def process(database, bus: mail.MailBus, project_view, base_url: str) -> None:
    """The outbox worker, run by the server's background loop: renders the emails waiting to be (`preparing`), then
    sends those due. Rendering happens outside any database session (sessions take turns; a template may be slow),
    so the API can pause, cancel or edit an email meanwhile; what it changed wins."""
    async with database.session() as db:
        waiting = list((await db.execute(select(EmailOutbox.id).where(EmailOutbox.status == "preparing"))).scalars())
    for outbox_id in waiting:
        await _render_row(database, project_view, base_url, outbox_id)
    async with database.session() as db:
        if await deliver_due(db, bus, project_view):
            await db.commit()


async def _render_row(database, project_view, base_url: str, outbox_id: str) -> None:
    async with database.session() as db:
        row = await db.get(EmailOutbox, outbox_id)
        if row is None or row.item.get("status") != "preparing":
            return
        item = dict(row.item)
        item.update(status="rendering", started_rendering_at_millis=now_millis())
        _store(row, item)
        project = await project_view(db, row.project_id)
        user = await db.get(User, item["to"]["user_id"])
        user_name = user.display_name if user is not None else None
        logos = await email_rendering.project_logos(db, row.project_id)
        await db.commit()
    if project is None:
        return

    async def make_link(category: notifications.Category) -> str:
        async with database.session() as link_db:
            link = await unsubscribe_link(link_db, project, base_url, item["to"]["user_id"], category)
            await link_db.commit()
        return link

    await _render_item(project, user_name, item, make_link, logos)
    async with database.session() as db:
        row = await db.get(EmailOutbox, outbox_id)
        current = row.item if row is not None else {}
        if current.get("status") not in ("rendering", "paused") or any(
                current.get(k) != item.get(k) for k in ("tsx_source", "theme_id", "variables", "to")):
            return  # cancelled or edited while it rendered: the edit is rendered next
        item["is_paused"], item["scheduled_at_millis"] = current["is_paused"], current["scheduled_at_millis"]
        item["skip_deliverability_check"] = current.get("skip_deliverability_check", False)
        if item["status"] == "rendered":
            item.update(status="paused" if item["is_paused"] else "scheduled", simple_status="in-progress")
        item["updated_at_millis"] = now_millis()
        _store(row, item)
        await db.commit()


async def deliver_due(db: AsyncSession, bus: mail.MailBus, project_view) -> int:
    """Send every scheduled, unpaused email whose time has come. `project_view(db, id)` gives a ProjectView."""
    now = now_millis()
    rows = [row for row in (await db.execute(select(EmailOutbox).where(EmailOutbox.status == "scheduled"))).scalars()
            if row.item["scheduled_at_millis"] <= now and row.id not in mail_relay.retrying
            and (row.item.get("next_send_retry_at_millis") or 0) <= now]
    for row in rows:
        item = dict(row.item)
        project = await project_view(db, row.project_id)
        if project is None:
            continue
        if not await _relay_again(db, bus, project, item):
            await _deliver(db, bus, project, await db.get(User, item["to"]["user_id"]), item)
        _store(row, item)
    return len(rows)


async def _relay_again(db: AsyncSession, bus: mail.MailBus, project: ProjectView, item: dict[str, Any]) -> bool:
    """An email whose relay retry was waiting when the emulator stopped (no live task waits for it any more): its
    caught copy is relayed again, rather than caught a second time. False when there is nothing to relay again."""
    relay = relay_target(project)
    if relay is None or not item.get("next_send_retry_at_millis") or not item.get("_message_id"):
        return False
    if not await mail.relay_again(db, bus, item["_message_id"], relay, outbox_id=item["id"],
                                  attempts_before=item.get("send_retries") or 0):
        return False  # deleted from the inbox meanwhile: caught and relayed anew
    now = now_millis()
    item.update(status="sending", simple_status="in-progress", next_send_retry_at_millis=None,
                started_sending_at_millis=now, updated_at_millis=now)
    return True


# What a rendering adds to an item (dropped when its content is edited, to be rendered again).
RENDERED_FIELDS = ("started_rendering_at_millis", "rendered_at_millis", "subject", "html", "text", "is_transactional",
                   "is_high_priority", "notification_category_id", "render_error", "render_error_at_millis",
                   "_headers")
# What sending adds (dropped with the retry state when the content is edited, as the platform resets them).
SENDING_FIELDS = ("started_sending_at_millis", "delivered_at_millis", "error_at_millis", "server_error",
                  "can_have_delivery_info")
EDITABLE = ("paused", "preparing", "rendering", "render-error", "scheduled", "queued", "server-error")


async def update_outbox(db: AsyncSession, project: ProjectView, outbox_id: str, body: dict[str, Any]) -> dict:
    """Pause, resume, cancel or reschedule an email that has not gone out yet, or change its content (tsx_source,
    theme_id, variables) or recipient (to): then it is rendered again."""
    row = await _row(db, project, outbox_id)
    item = dict(row.item)
    if item["status"] not in EDITABLE:
        raise E.email_not_editable(outbox_id, item["status"])
    now = now_millis()
    if body.get("cancel"):
        item.update(status="skipped", simple_status="ok", skipped_reason="MANUALLY_CANCELLED", skipped_details={},
                    skipped_at_millis=now, is_paused=False, next_send_retry_at_millis=None)
    else:
        for field in ("scheduled_at_millis", "skip_deliverability_check", "is_paused", "variables"):
            if field in body:
                item[field] = body[field]
        if "theme_id" in body:  # stored as the platform does: null for no theme
            item["theme_id"] = None if body["theme_id"] is False else body["theme_id"]
        if "tsx_source" in body:
            item["tsx_source"] = body["tsx_source"]
            item["_source"] = {"tsx_source": body["tsx_source"]}
        if "to" in body:
            item["to"] = _recipient(body["to"])
        if {"tsx_source", "theme_id", "to", "variables"} & body.keys():  # rendered again by the worker
            for field in (*RENDERED_FIELDS, *SENDING_FIELDS):
                item.pop(field, None)
            item.update(has_rendered=False, status="preparing", send_retries=0, next_send_retry_at_millis=None,
                        send_attempt_errors=None, has_delivered=False)
        if item["is_paused"]:
            item.update(status="paused", simple_status="in-progress")
        elif item["status"] == "paused":
            item["status"] = "scheduled" if item["has_rendered"] else "preparing"
        if item["status"] in ("preparing", "scheduled"):
            item["simple_status"] = "in-progress"
    item["updated_at_millis"] = now
    _store(row, item)
    return wire(item)


def _recipient(to: Any) -> dict[str, Any]:
    """A `to` of a PATCH: the emulator's outbox emails go to a user's primary email."""
    if not (isinstance(to, dict) and to.get("type") == "user-primary-email" and isinstance(to.get("user_id"), str)):
        raise E.schema("body.to must be {type: \"user-primary-email\", user_id} for the emulator's outbox emails")
    return {"type": "user-primary-email", "user_id": to["user_id"]}


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
    return {"items": [wire(row.item) for row in page], "is_paginated": True,
            "pagination": {"next_cursor": following.id if following else None}}


async def _row(db: AsyncSession, project: ProjectView, outbox_id: str) -> EmailOutbox:
    row = await db.get(EmailOutbox, outbox_id)
    if row is None or row.project_id != project.id:
        raise StatusError(404, "Email not found in the outbox")
    return row


async def get_outbox(db: AsyncSession, project: ProjectView, outbox_id: str) -> dict[str, Any]:
    return wire((await _row(db, project, outbox_id)).item)


def wire(item: dict[str, Any]) -> dict[str, Any]:
    """An outbox item as served: without the keys the emulator keeps for itself (named with a leading _)."""
    return {k: v for k, v in item.items() if not k.startswith("_")}


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
    # As the platform: the base capacity plus 4x last month's hourly average (nothing bounces here: no penalty),
    # at least a quarter of the base; in the platform's order of float operations.
    hourly = BASE_RATE_PER_HOUR + (4 * stats["month"]["sent"] / 30 / 24)
    rate_per_hour = max(hourly, BASE_RATE_PER_HOUR / 4)
    return {"stats": stats, "capacity": {
        "rate_per_second": (rate_per_hour / 60 / 60) * multiplier, "boost_multiplier": multiplier,
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
