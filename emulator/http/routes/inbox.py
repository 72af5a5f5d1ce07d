"""The inbox API for tests and the inbox page: caught mail, listed, read, awaited, streamed and deleted.

No project authentication. Served under /api/v1 (and /api/latest) like every API route:
  /emulator/inbox/...   the emulator's own API (JSON shapes in emulator.domain.mail.mail.summary / full)
  /mailbox/...          Inbucket-compatible reads and deletes (Inbucket's v1 JSON API lives at /api/v1/mailbox/...)
The wait and event-stream routes are plain Starlette routes that open short database sessions themselves: the
`endpoint` wrapper would hold the (serialized) database for the whole wait.
"""
from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import re
from datetime import datetime, timezone
from urllib.parse import quote

from sqlalchemy import and_, delete, exists, func, literal_column, or_, select
from sqlalchemy.orm import defer
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from emulator.domain.mail import mail, mail_relay
from emulator.clock import now_millis
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable
from emulator.http.responses import json_response, success, text_response
from emulator.store import match
from emulator.store.models import EmailMessage, MailRelay

api = RouteTable()

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
DEFAULT_WAIT_SECONDS = 10.0
MAX_WAIT_SECONDS = 60.0
HEARTBEAT_SECONDS = 15.0
NOT_FOUND = "Message not found in the hexclave-emulator inbox"


class Lenient(v.Obj):
    """Query parameters: the known ones are validated, others (cache busters and the like) are ignored."""
    open_ended = True

    def validate(self, value, path, errors):
        if isinstance(value, dict):
            value = {k: val for k, val in value.items() if k in self.fields}
        return super().validate(value, path, errors)


ID_PARAMS = v.Obj({"id": v.Str()})


# ---------------------------------------------------------------- query building

def _recipient_where(condition):
    """EXISTS a recipient (in the JSON list) for which `condition(value_column)` holds."""
    each = func.json_each(EmailMessage.recipients).table_valued("value")
    return exists(select(1).select_from(each).where(condition(each.c.value)))


def filters(*, q: str | None = None, to: str | None = None, subject: str | None = None,
            project_id: str | None = None, since: int | None = None) -> list:
    """SQL conditions of the inbox filters (text matches ignore the case of ASCII letters)."""
    where = []
    if project_id:
        where.append(EmailMessage.project_id == project_id)
    if to:
        where.append(_recipient_where(lambda value: func.lower(value) == func.lower(to)))
    if subject:
        where.append(match.contains(EmailMessage.subject, subject))
    if q:
        where.append(or_(match.contains(EmailMessage.sender, q), match.contains(EmailMessage.subject, q),
                         match.contains(EmailMessage.text, q), _recipient_where(lambda value: match.contains(value, q))))
    if since is not None:
        where.append(EmailMessage.created_at_millis >= since)
    return where


NEWEST_FIRST = (EmailMessage.created_at_millis.desc(), literal_column("email_messages.rowid").desc())
OLDEST_FIRST = (EmailMessage.created_at_millis.asc(), literal_column("email_messages.rowid").asc())


async def _get(db, message_id: str, *, with_raw: bool = False) -> EmailMessage | None:
    query = select(EmailMessage).where(EmailMessage.id == message_id)
    if not with_raw:
        query = query.options(defer(EmailMessage.raw))
    return (await db.execute(query)).scalar_one_or_none()


# ---------------------------------------------------------------- the emulator's inbox API

LIST_QUERY = Lenient({"q": v.Str(), "to": v.Str(), "project_id": v.Str(), "limit": v.Int(min_value=1)})


@api("/emulator/inbox/messages", "GET", access=None, query=LIST_QUERY)
async def list_messages(ctx: Ctx):
    limit = min(ctx.query.get("limit") or DEFAULT_LIMIT, MAX_LIMIT)
    query = (select(EmailMessage).options(defer(EmailMessage.raw))
             .where(*filters(q=ctx.query.get("q"), to=ctx.query.get("to"), project_id=ctx.query.get("project_id")))
             .order_by(*NEWEST_FIRST).limit(limit))
    messages = (await ctx.db.execute(query)).scalars().all()
    relays = await mail_relay.records(ctx.db, [m.id for m in messages if m.source == "platform"])
    return {"items": [mail.summary(m, relays.get(m.id)) for m in messages]}


async def _relay(db, message: EmailMessage) -> dict | None:
    """The message's relay record (only platform mail is ever relayed: skip the query for the rest)."""
    if message.source != "platform":
        return None
    return (await mail_relay.records(db, [message.id])).get(message.id)


async def _delete_messages(db, *where) -> int:
    """Delete messages and their relay records; returns how many messages went."""
    ids = select(EmailMessage.id).where(*where)
    await db.execute(delete(MailRelay).where(MailRelay.message_id.in_(ids)))
    return (await db.execute(delete(EmailMessage).where(*where))).rowcount


@api("/emulator/inbox/messages/{id}", "GET", access=None, params=ID_PARAMS, query=Lenient({}))
async def get_message(ctx: Ctx):
    message = await _get(ctx.db, ctx.params["id"])
    if message is None:
        return text_response(NOT_FOUND, 404)
    return mail.full(message, await _relay(ctx.db, message))


@api("/emulator/inbox/messages/{id}/raw", "GET", access=None, params=ID_PARAMS, query=Lenient({}))
async def raw_message(ctx: Ctx):
    raw = (await ctx.db.execute(select(EmailMessage.raw).where(EmailMessage.id == ctx.params["id"]))).scalar()
    if raw is None:
        return text_response(NOT_FOUND, 404)
    return Response(raw, media_type="message/rfc822",
                    headers={"content-disposition": f'attachment; filename="{ctx.params["id"]}.eml"'})


ATTACHMENT_PARAMS = v.Obj({"id": v.Str(), "index": v.Int(min_value=0)})


@api("/emulator/inbox/messages/{id}/attachments/{index}", "GET", access=None, params=ATTACHMENT_PARAMS,
     query=Lenient({"inline": v.Bool()}))
async def message_attachment(ctx: Ctx):
    """An attachment's content (index as in `attachments`); `?inline=true` to view it in the browser."""
    raw = (await ctx.db.execute(select(EmailMessage.raw).where(EmailMessage.id == ctx.params["id"]))).scalar()
    found = mail.attachment(raw, ctx.params["index"]) if raw is not None else None
    if found is None:
        return text_response("Attachment not found in the hexclave-emulator inbox", 404)
    info, content = found
    filename = info["filename"] or f"attachment-{ctx.params['index']}"
    disposition = "inline" if ctx.query.get("inline") else "attachment"
    return Response(content, media_type=info["content_type"],
                    headers={"content-disposition": f"{disposition}; filename*=UTF-8''{quote(filename)}",
                             "x-content-type-options": "nosniff"})


@api("/emulator/inbox/messages/{id}", "DELETE", access=None, params=ID_PARAMS, query=Lenient({}))
async def delete_message(ctx: Ctx):
    if not await _delete_messages(ctx.db, EmailMessage.id == ctx.params["id"]):
        return text_response(NOT_FOUND, 404)
    return success()


@api("/emulator/inbox/messages", "DELETE", access=None, query=Lenient({"project_id": v.Str()}))
async def delete_messages(ctx: Ctx):
    project_id = ctx.query.get("project_id")
    await _delete_messages(ctx.db, *([EmailMessage.project_id == project_id] if project_id else []))
    return success()


# ---------------------------------------------------------------- waiting and streaming (no database held)

def _number(request: Request, name: str, *, integer: bool) -> float | int | None:
    text = request.query_params.get(name)
    if text is None or text.strip() == "":
        return None
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise ValueError(f"{name} must be a {'whole ' if integer else ''}number, got {text!r}") from None
    if value < 0 or value != value:
        raise ValueError(f"{name} must not be negative, got {text!r}")
    return value


async def _until_disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def wait_for_message(request: Request) -> Response:
    """The newest message matching the filters that came at or after `since` (default: now), as soon as it
    exists; 408 after `timeout` seconds without one."""
    state = request.app.state.emu
    started = now_millis()
    try:
        since = _number(request, "since", integer=True)
        timeout = _number(request, "timeout", integer=False)
    except ValueError as exc:
        return text_response(f"Invalid query parameter: {exc}", 400)
    timeout = min(DEFAULT_WAIT_SECONDS if timeout is None else timeout, MAX_WAIT_SECONDS)
    criteria = {name: request.query_params.get(name) or None for name in ("to", "subject", "q", "project_id")}
    explicit_since = since is not None
    since = started if since is None else since

    def wanted(message: EmailMessage) -> bool:
        if explicit_since and message.created_at_millis < since:
            return False
        return mail.matches(message, **criteria)

    with state.mail.waiting(wanted) as arrival:
        async with state.db.session() as db:
            query = (select(EmailMessage).options(defer(EmailMessage.raw))
                     .where(*filters(**criteria, since=since)).order_by(*NEWEST_FIRST).limit(1))
            existing = (await db.execute(query)).scalar_one_or_none()
            relay = await _relay(db, existing) if existing is not None else None
        if existing is not None:
            return json_response(mail.full(existing, relay))
        if timeout > 0:
            gone = asyncio.ensure_future(_until_disconnected(request))
            try:
                await asyncio.wait({arrival, gone}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            finally:
                gone.cancel()
        if arrival.done() and not arrival.cancelled():
            return json_response(mail.full(arrival.result()))
    described = ", ".join(f"{k}={val!r}" for k, val in criteria.items() if val) or "any message"
    return text_response(f"No message matching {described} arrived in the hexclave-emulator inbox within "
                         f"{timeout:g} s (since {since} ms).", 408)


async def message_events(request: Request) -> Response:
    """Server-Sent Events: `data: <summary JSON>` for each new message, a comment every 15 s as a heartbeat."""
    bus = request.app.state.emu.mail
    queue = bus.subscribe()

    async def stream():
        try:
            yield ": connected to the hexclave-emulator inbox\n\n"
            while True:
                try:
                    message = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except asyncio.TimeoutError:
                    yield ": heartbeat\n\n"
                    continue
                yield f"data: {json.dumps(mail.summary(message), ensure_ascii=False)}\n\n"
        finally:
            bus.unsubscribe(queue)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"cache-control": "no-store", "x-accel-buffering": "no"})


api.routes.append(Route("/emulator/inbox/wait", wait_for_message, methods=["GET"]))
api.routes.append(Route("/emulator/inbox/events", message_events, methods=["GET"]))


# ---------------------------------------------------------------- Inbucket-compatible reads

def _canonical_header_name(name: str) -> str:
    """Header names as Go's net/textproto writes map keys ("message-id" -> "Message-Id")."""
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", name):
        return name
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _display_address(name: str, address: str) -> str:
    return f"{name} <{address}>" if name else f"<{address}>"


def _display_addresses(values: list[str]) -> list[str]:
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        return list(values)
    return [_display_address(name, addr) for name, addr in pairs if addr]


def _header_values(message: EmailMessage, name: str) -> list[str]:
    return [value for key, value in message.headers or [] if key.lower() == name]


def _rfc3339(millis: int) -> str:
    moment = datetime.fromtimestamp(millis / 1000, tz=timezone.utc)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def mailbox_name(name: str) -> str:
    """The mailbox of a name or a whole address, as Inbucket names them: the local part, in lower case."""
    return name.rsplit("@", 1)[0].strip().lower()


def _mailbox_where(name: str):
    """Messages with a recipient whose local part is `name` (or `name+tag`), case-insensitively."""
    base = mailbox_name(name)
    return _recipient_where(lambda value: or_(match.starts_with(value, f"{base}@"),
                                              and_(match.starts_with(value, f"{base}+"), match.contains(value, "@"))))


def inbucket_header(mailbox: str, message: EmailMessage, size: int) -> dict:
    senders = _display_addresses([message.sender]) if message.sender else []
    to = _display_addresses(_header_values(message, "to")) or [f"<{r}>" for r in message.recipients or []]
    return {
        "mailbox": mailbox,
        "id": message.id,
        "from": senders[0] if senders else (message.sender or ""),
        "to": to,
        "subject": message.subject or "",
        "date": _rfc3339(message.created_at_millis),
        "posix-millis": message.created_at_millis,
        "size": size,
        "seen": False,
    }


MAILBOX_PARAMS = v.Obj({"name": v.Str()})
OK = "OK"  # what Inbucket answers (as JSON) to a successful delete or purge
MAILBOX_MESSAGE_PARAMS = v.Obj({"name": v.Str(), "id": v.Str()})


@api("/mailbox/{name}", "GET", access=None, params=MAILBOX_PARAMS, query=Lenient({}))
async def inbucket_mailbox(ctx: Ctx):
    name = ctx.params["name"]
    query = (select(EmailMessage, func.length(EmailMessage.raw)).options(defer(EmailMessage.raw))
             .where(_mailbox_where(name)).order_by(*OLDEST_FIRST))
    rows = (await ctx.db.execute(query)).all()
    return [inbucket_header(mailbox_name(name), message, size) for message, size in rows]


@api("/mailbox/{name}", "DELETE", access=None, params=MAILBOX_PARAMS, query=Lenient({}))
async def inbucket_purge(ctx: Ctx):
    """Empty a mailbox. The inbox keeps one copy of a message for all its recipients, so a message to several
    mailboxes leaves all of them."""
    await _delete_messages(ctx.db, _mailbox_where(ctx.params["name"]))
    return json_response(OK)


async def _mailbox_message(ctx: Ctx) -> EmailMessage | None:
    query = (select(EmailMessage)
             .where(EmailMessage.id == ctx.params["id"], _mailbox_where(ctx.params["name"])))
    return (await ctx.db.execute(query)).scalar_one_or_none()


@api("/mailbox/{name}/{id}", "GET", access=None, params=MAILBOX_MESSAGE_PARAMS, query=Lenient({}))
async def inbucket_message(ctx: Ctx):
    message = await _mailbox_message(ctx)
    if message is None:
        return text_response(NOT_FOUND, 404)
    header: dict[str, list[str]] = {}
    for key, value in message.headers or []:
        header.setdefault(_canonical_header_name(key), []).append(value)
    url = ctx.request.url
    base = f"{url.scheme}://{url.netloc}"
    prefix = ctx.request.scope.get("root_path", "") or "/api/v1"  # the mount: /api/v1 or /api/latest
    attachments = []
    for index, info in enumerate(message.attachments or []):
        found = mail.attachment(message.raw, index)
        content = found[1] if found else b""
        link = f"{base}{prefix}/emulator/inbox/messages/{message.id}/attachments/{index}"
        attachments.append({"filename": info.get("filename") or "", "content-type": info.get("content_type") or "",
                            "download-link": link, "view-link": link + "?inline=true",
                            "md5": hashlib.md5(content).hexdigest()})
    return {**inbucket_header(mailbox_name(ctx.params["name"]), message, len(message.raw or b"")), "header": header,
            "body": {"text": message.text or "", "html": message.html or ""}, "attachments": attachments}


@api("/mailbox/{name}/{id}", "DELETE", access=None, params=MAILBOX_MESSAGE_PARAMS, query=Lenient({}))
async def inbucket_delete(ctx: Ctx):
    if not await _delete_messages(ctx.db, EmailMessage.id == ctx.params["id"], _mailbox_where(ctx.params["name"])):
        return text_response(NOT_FOUND, 404)
    return json_response(OK)


@api("/mailbox/{name}/{id}/source", "GET", access=None, params=MAILBOX_MESSAGE_PARAMS, query=Lenient({}))
async def inbucket_source(ctx: Ctx):
    message = await _mailbox_message(ctx)
    if message is None:
        return text_response(NOT_FOUND, 404)
    return Response(message.raw, media_type="text/plain; charset=utf-8")
