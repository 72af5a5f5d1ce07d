"""The mail catcher: every email the platform sends and every message an app sends to the SMTP port is parsed,
stored as an EmailMessage and announced on the MailBus, for the inbox API and the inbox page.

Publishing: `store` only queues the message on the session; the MailBus hears of it when that session COMMITS
(a rollback drops it), so a waiter never sees a message that was then rolled back. Relaying a platform email to the
project's own SMTP server (emulator.domain.mail.mail_relay) starts after that commit too.
"""
from __future__ import annotations

import asyncio
import binascii
import email
import email.header
import email.message
import email.utils
import html as html_lib
import logging
import re
import uuid
from contextlib import contextmanager
from email import policy
from typing import Any, Callable, Iterator
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import event, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, make_transient_to_detached

from emulator.domain.mail import mail_relay
from emulator.clock import now_millis, now_seconds
from emulator.store.models import EmailMessage, MailRelay

log = logging.getLogger("hexclave.mail")

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
TOO_LARGE_TEXT = (f"message too large: hexclave-emulator's mail catcher keeps messages of at most "
                  f"{MAX_MESSAGE_BYTES} bytes (10 MB)")
MESSAGE_ID_DOMAIN = "hexclave-emulator.local"
PREVIEW_CHARS = 200


class MessageTooLarge(ValueError):
    """Raised by `store` for a message over MAX_MESSAGE_BYTES (the SMTP server answers 552 before that)."""

    def __init__(self, size: int):
        super().__init__(f"{TOO_LARGE_TEXT}; this one has {size} bytes")
        self.size = size


# ---------------------------------------------------------------- parsing

def _unsurrogate(text: str) -> str:
    """Text from the parser may carry raw 8-bit bytes as surrogate escapes: read them as UTF-8, else U+FFFD."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    except UnicodeError:
        return text.encode("utf-8", "replace").decode("utf-8", "replace")


def _header_text(name: str, raw_value: Any) -> str:
    """A header value as readable text: unfolded, encoded-words decoded, undecodable bytes replaced."""
    if not isinstance(raw_value, str):
        try:
            raw_value = str(raw_value)
        except Exception:
            return ""
    value = _unsurrogate(re.sub(r"\r?\n", "", raw_value))
    if "=?" not in value:  # nothing to decode: keep the text as sent (and skip the stdlib's costly parse)
        return value.strip()
    try:
        return _unsurrogate(str(policy.default.header_factory(name, value)))
    except Exception:
        try:
            parts = email.header.decode_header(value)
            return "".join(p.decode(c or "utf-8", "replace") if isinstance(p, bytes) else p for p, c in parts)
        except Exception:
            return value


def display_address(value: str) -> str:
    """`Name <addr>` (or `addr`) of the first address in a header value; the value itself if none parses."""
    try:
        pairs = [(n, a) for n, a in email.utils.getaddresses([value]) if a]
    except Exception:
        pairs = []
    if not pairs:
        return value.strip()
    name, addr = pairs[0]
    return f"{name} <{addr}>" if name else addr


def _addresses(values: list[str]) -> list[str]:
    """Bare addresses of address header values (display names dropped); unparseable entries skipped."""
    out: list[str] = []
    try:
        pairs = email.utils.getaddresses(values)
    except Exception:
        return out
    for _name, addr in pairs:
        if addr and "@" in addr and addr not in out:
            out.append(addr)
    return out


def _part_text(part: email.message.Message) -> str | None:
    """A text part's content, by its charset when it can be decoded with it, else as UTF-8 with replacements."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        try:
            raw = part.get_payload()
            payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else b""
        except Exception:
            return None
    try:
        charset = part.get_content_charset() or "utf-8"
    except Exception:
        charset = "utf-8"
    try:
        text = payload.decode(charset)
    except (LookupError, UnicodeError):
        text = payload.decode("utf-8", "replace")
    return text.replace("\r\n", "\n")


def _leaves(part: email.message.Message) -> Iterator[email.message.Message]:
    """Leaf parts in order; an attached message (message/rfc822) counts as one leaf."""
    try:
        if part.get_content_maintype() == "multipart" and isinstance(part.get_payload(), list):
            for sub in part.get_payload():
                if isinstance(sub, email.message.Message):
                    yield from _leaves(sub)
            return
    except Exception:
        pass
    yield part


def _disposition(part: email.message.Message) -> str | None:
    try:
        return part.get_content_disposition()
    except Exception:
        return None


def _filename(part: email.message.Message) -> str | None:
    try:
        name = part.get_filename()
    except Exception:
        return None
    return _header_text("x-filename", name) if name else None


def _content_type(part: email.message.Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "application/octet-stream"


def _part_bytes(part: email.message.Message) -> bytes:
    try:
        if part.get_content_maintype() == "message" or part.is_multipart():
            inner = part.get_payload()
            if isinstance(inner, list) and inner:
                return inner[0].as_bytes(policy=policy.SMTP)
            return b""
        return part.get_payload(decode=True) or b""
    except Exception:
        return b""


def _bodies_and_attachments(msg: email.message.Message):
    """The text body, the html body and the other leaves (the attachments, inline images included)."""
    text_part = html_part = None
    attachments = []
    for leaf in _leaves(msg):
        content_type = _content_type(leaf)
        disposition = _disposition(leaf)
        is_attachment = disposition == "attachment" or (_filename(leaf) is not None and disposition != "inline")
        if not is_attachment and content_type == "text/plain" and text_part is None:
            text_part = leaf
        elif not is_attachment and content_type == "text/html" and html_part is None:
            html_part = leaf
        else:
            attachments.append(leaf)
    return text_part, html_part, attachments


def parse(raw: bytes) -> dict:
    """Read a raw message; never raises: what cannot be read is left empty (and bad bytes become U+FFFD)."""
    try:
        # compat32 keeps headers as plain strings: the default policy's structured header parsing costs ~10x more
        # than the rest of the work; encoded-words are decoded by _header_text where they occur.
        msg = email.message_from_bytes(raw, policy=policy.compat32)
    except Exception:
        msg = None
    out: dict[str, Any] = {"subject": "", "from": "", "to": [], "cc": [], "bcc": [], "text": None, "html": None,
                           "headers": [], "attachments": []}
    if msg is None:
        out["text"] = raw.decode("utf-8", "replace")
        return out
    try:
        items = list(msg.raw_items())
    except Exception:
        items = []
    headers = [[_unsurrogate(str(name)), _header_text(str(name), value)] for name, value in items]
    out["headers"] = headers

    def values(name: str) -> list[str]:
        return [v for n, v in headers if n.lower() == name]

    out["subject"] = next(iter(values("subject")), "")
    senders = values("from")
    if senders:
        out["from"] = display_address(senders[0])
    for field in ("to", "cc", "bcc"):
        out[field] = _addresses(values(field))

    try:
        text_part, html_part, attachment_parts = _bodies_and_attachments(msg)
    except Exception:
        text_part = html_part = None
        attachment_parts = []
    out["text"] = _part_text(text_part) if text_part is not None else None
    out["html"] = _part_text(html_part) if html_part is not None else None
    out["attachments"] = [{"filename": _filename(p), "content_type": _content_type(p), "size": len(_part_bytes(p))}
                          for p in attachment_parts]
    return out


def attachment(raw: bytes, index: int) -> tuple[dict, bytes] | None:
    """The index-th attachment of a raw message (as listed by `parse`), with its decoded content."""
    try:
        msg = email.message_from_bytes(raw, policy=policy.compat32)
        parts = _bodies_and_attachments(msg)[2]
    except Exception:
        return None
    if not 0 <= index < len(parts):
        return None
    part = parts[index]
    content = _part_bytes(part)
    return {"filename": _filename(part), "content_type": _content_type(part), "size": len(content)}, content


# ---------------------------------------------------------------- links and codes

_URL = re.compile(r"https?://[^\s<>\"'`\[\]{}|\\^]+", re.IGNORECASE)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.IGNORECASE)
_PLATFORM_CODE = re.compile(r"^[0-9a-hjkmnp-tv-z]{45}$")
_OTP_IN_ELEMENT = re.compile(r">\s*([A-Z0-9]{6})\s*<")
_OTP = re.compile(r"(?<![A-Za-z0-9#&_/=.-])([A-Z0-9]{6})(?![A-Za-z0-9_])")
_HIDDEN = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")


def _clean_url(url: str) -> str:
    """Drop punctuation that ends the sentence around a URL; keep a balanced ")" ("…/Foo_(bar)")."""
    while url:
        if url[-1] in ".,;:!?'\"":
            url = url[:-1]
        elif url[-1] == ")" and url.count(")") > url.count("("):
            url = url[:-1]
        else:
            break
    return url


def html_to_text(html: str) -> str:
    return html_lib.unescape(_TAG.sub(" ", _HIDDEN.sub(" ", html)))


def extract(text: str | None, html: str | None) -> tuple[str | None, list[str]]:
    """The message's one-time code and its http(s) links (text part first, then html hrefs; deduplicated)."""
    links: list[str] = []

    def add(url: str) -> None:
        url = _clean_url(url.strip())
        if re.match(r"^https?://[^/?#\s]", url, re.IGNORECASE) and url not in links:
            links.append(url)

    for match in _URL.finditer(text or ""):
        add(match.group(0))
    for match in _HREF.finditer(html or ""):
        add(html_lib.unescape(next(g for g in match.groups() if g is not None)))

    code = None
    link_codes = []
    for link in links:
        try:
            query = parse_qsl(urlsplit(link).query, keep_blank_values=False)
        except ValueError:
            continue
        link_codes += [value for key, value in query if key == "code" and value]
    code = next((c for c in link_codes if _PLATFORM_CODE.match(c)), None) or next(iter(link_codes), None)
    if code is None and html:
        match = _OTP_IN_ELEMENT.search(_HIDDEN.sub(" ", html))
        if match:
            code = match.group(1)
    if code is None:
        for source in (text or "", html_to_text(html) if html else ""):
            without_links = _URL.sub(" ", source)
            for match in _OTP.finditer(without_links):
                if any(ch.isdigit() for ch in match.group(1)):  # all letters: a shouted word, not a code
                    code = match.group(1)
                    break
            if code:
                break
    return code, links


# ---------------------------------------------------------------- the bus

class MailBus:
    """In-process news of newly committed messages: one-shot waiters (with a predicate) and live streams."""

    STREAM_BACKLOG = 1000

    def __init__(self) -> None:
        self._waiters: list[tuple[Callable[[EmailMessage], bool], asyncio.Future]] = []
        self._streams: set[asyncio.Queue] = set()
        # Set by the SMTP server at start-up: relays record their outcome in `database`, and never go to `own_smtp`.
        self.database = None
        self.own_smtp: tuple[str, int] | None = None
        self._relays: set[asyncio.Task] = set()

    def attach(self, database, own_smtp: tuple[str, int]) -> None:
        self.database, self.own_smtp = database, own_smtp

    def start_relay(self, job: "mail_relay.Job") -> None:
        task = asyncio.get_running_loop().create_task(mail_relay.run(self.database, self.own_smtp, job))
        self._relays.add(task)  # a reference, so the task is not collected before it ends
        task.add_done_callback(self._relays.discard)

    def publish(self, message: EmailMessage) -> None:
        for predicate, future in list(self._waiters):
            if future.done():
                continue
            try:
                matched = predicate(message)
            except Exception:
                log.exception("mail waiter predicate failed")
                matched = False
            if matched:
                future.set_result(message)
        for queue in list(self._streams):
            try:
                queue.put_nowait(message)
            except asyncio.QueueFull:  # a stalled reader loses news rather than holding memory
                pass

    @contextmanager
    def waiting(self, predicate: Callable[[EmailMessage], bool]) -> Iterator[asyncio.Future]:
        """Register first, then look in the database, then await the future: nothing slips in between."""
        future = asyncio.get_running_loop().create_future()
        entry = (predicate, future)
        self._waiters.append(entry)
        try:
            yield future
        finally:
            self._waiters.remove(entry)
            if not future.done():
                future.cancel()

    async def wait_for(self, predicate: Callable[[EmailMessage], bool], timeout: float) -> EmailMessage | None:
        """The next published message matching `predicate`, or None after `timeout` seconds."""
        with self.waiting(predicate) as future:
            try:
                return await asyncio.wait_for(asyncio.shield(future), timeout)
            except asyncio.TimeoutError:
                return None

    def subscribe(self) -> asyncio.Queue:
        queue: asyncio.Queue = asyncio.Queue(self.STREAM_BACKLOG)
        self._streams.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._streams.discard(queue)

    @property
    def listener_count(self) -> int:
        return len(self._waiters) + len(self._streams)


_PENDING = "mail_pending_publish"
_PENDING_RELAYS = "mail_pending_relays"


@event.listens_for(Session, "after_commit")
def _publish_after_commit(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    for bus, message in pending or ():
        try:
            bus.publish(message)
        except Exception:
            log.exception("could not announce caught message %s", message.id)
    for bus, job in session.info.pop(_PENDING_RELAYS, None) or ():
        try:
            bus.start_relay(job)
        except Exception:
            log.exception("could not start relaying message %s", job.message_id)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_PENDING_RELAYS, None)


# ---------------------------------------------------------------- storing and sending

def prepare(*, raw: bytes, project_id: str | None, source: str, envelope_from: str | None = None,
            envelope_to: list[str] | None = None) -> EmailMessage:
    """Parse a raw message into an unsaved EmailMessage (no database: can run in a worker thread)."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise MessageTooLarge(len(raw))
    parsed = parse(raw)
    code, links = extract(parsed["text"], parsed["html"])
    recipients: list[str] = []
    for address in (envelope_to if envelope_to else parsed["to"] + parsed["cc"] + parsed["bcc"]):
        if address and address not in recipients:
            recipients.append(address)
    return EmailMessage(
        id=str(uuid.uuid4()), project_id=project_id, source=source, created_at_millis=now_millis(),
        sender=parsed["from"] or envelope_from or "", recipients=recipients, subject=parsed["subject"],
        text=parsed["text"], html=parsed["html"], headers=parsed["headers"], attachments=parsed["attachments"],
        raw=bytes(raw), code=code, links=links)


_INSERT = insert(EmailMessage.__table__)


def _row(message: EmailMessage) -> dict[str, Any]:
    return {column.key: getattr(message, column.key) for column in EmailMessage.__table__.columns}


async def add(db: AsyncSession, bus: MailBus, message: EmailMessage) -> EmailMessage:
    """Insert a prepared message; the bus hears of it when `db` commits."""
    # A plain INSERT (the ORM's unit of work costs more than the rest of storing), then the object joins the
    # session as an already persistent row.
    await add_caught(db, bus, [message])
    db.add(message)
    return message


async def add_caught(db: AsyncSession, bus: MailBus, messages: list[EmailMessage]) -> None:
    """Insert messages caught over SMTP, in one statement; the bus hears of each when `db` commits. Unlike `add`,
    they do not join the session (nothing after them in it reads them): they are detached rows from the start."""
    await db.execute(_INSERT, [_row(m) for m in messages])
    for message in messages:
        make_transient_to_detached(message)
    db.info.setdefault(_PENDING, []).extend((bus, m) for m in messages)


async def store(db: AsyncSession, bus: MailBus, *, raw: bytes, project_id: str | None, source: str,
                envelope_from: str | None = None, envelope_to: list[str] | None = None) -> EmailMessage:
    """Parse, extract, insert and flush a message. The caller commits; waiters hear of it after that commit.

    Raises MessageTooLarge for a message over 10 MB."""
    message = prepare(raw=raw, project_id=project_id, source=source, envelope_from=envelope_from,
                      envelope_to=envelope_to)
    return await add(db, bus, message)


def _one_line(value: str) -> str:
    return re.sub(r"[\r\n]+\s*", " ", value or "")


def _encoded_header(value: str) -> str:
    """A header value in ASCII: RFC 2047 encoded-words when it has other characters (folded with CRLF)."""
    value = _one_line(value)
    if value.isascii():
        return value
    return email.header.Header(value, "utf-8").encode(linesep="\r\n")


def _encoded_addresses(values: list[str]) -> str:
    out = []
    for value in values:
        name, addr = email.utils.parseaddr(_one_line(value))
        out.append(email.utils.formataddr((name, addr), "utf-8") if addr else _encoded_header(value))
    return ", ".join(out)


def _body_part(body: str, subtype: str) -> bytes:
    """One text part: as sent when its lines fit RFC 5322's 998 bytes (7bit or 8bit, readable in the raw source),
    else quoted-printable."""
    data = (body or "").replace("\r\n", "\n").encode("utf-8")
    if all(len(line) <= 998 for line in data.split(b"\n")):
        encoding = "7bit" if data.isascii() else "8bit"
    else:
        encoding = "quoted-printable"
        data = binascii.b2a_qp(data)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\r\nContent-Transfer-Encoding: {encoding}\r\n\r\n'
    return head.encode("ascii") + data.replace(b"\n", b"\r\n")


def build(*, to: list[str], subject: str, html: str, text: str, sender: str,
          extra_headers: list[tuple[str, str]] = ()) -> bytes:
    """A multipart/alternative message (text, then html) with Date and Message-ID, as bytes on the wire.

    Assembled with the stdlib's header helpers rather than email.message.EmailMessage, whose header objects made
    building one platform email cost ~2 ms (this takes ~0.1 ms); test_mail_capture checks the result parses."""
    boundary = f"=_hexclave_{uuid.uuid4().hex}"
    headers = [
        ("From", _encoded_addresses([sender])),
        ("To", _encoded_addresses(list(to))),
        ("Subject", _encoded_header(subject)),
        ("Date", email.utils.formatdate(now_seconds(), localtime=True)),  # the emulator clock, like created_at
        ("Message-ID", email.utils.make_msgid(domain=MESSAGE_ID_DOMAIN)),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
        *((name, _encoded_header(value)) for name, value in extra_headers),
    ]
    head = "".join(f"{name}: {value}\r\n" for name, value in headers).encode("ascii")
    separator = f"\r\n--{boundary}\r\n".encode("ascii")
    return (head + b"\r\n" + f"--{boundary}\r\n".encode("ascii") + _body_part(text, "plain") + separator
            + _body_part(html, "html") + f"\r\n--{boundary}--\r\n".encode("ascii"))


async def send(db: AsyncSession, bus: MailBus, *, project_id: str, to: list[str], subject: str, html: str,
               text: str, sender: str, extra_headers: list[tuple[str, str]] = (),
               relay: "mail_relay.Target | None" = None, outbox_id: str | None = None,
               relay_attempts_before: int = 0) -> EmailMessage:
    """What the platform's own emails call: build the MIME message and catch it (source "platform").

    With `relay`, the same message also goes to that SMTP server once `db` commits (see mail_relay)."""
    raw = build(to=to, subject=subject, html=html, text=text, sender=sender, extra_headers=extra_headers)
    recipients = _addresses(list(to)) or list(to)
    message = await store(db, bus, raw=raw, project_id=project_id, source="platform", envelope_to=recipients)
    if relay is not None:
        job = _relay_job(message, relay, outbox_id, relay_attempts_before)
        message.relay_at_send = mail_relay.begin(db, job)  # what the wait API and the live stream show
        db.info.setdefault(_PENDING_RELAYS, []).append((bus, job))
    return message


async def relay_again(db: AsyncSession, bus: MailBus, message_id: str, relay: "mail_relay.Target", *,
                      outbox_id: str | None, attempts_before: int) -> bool:
    """Relay a platform message caught earlier once more, once `db` commits: one whose relay retry was waiting when
    the emulator stopped. The inbox keeps its one copy. False when the message (or its relay record, deleted with
    it) is no longer stored."""
    message, row = await db.get(EmailMessage, message_id), await db.get(MailRelay, message_id)
    if message is None or row is None:
        return False
    row.server, row.status, row.error, row.updated_at_millis = relay.server, "sending", None, now_millis()
    db.info.setdefault(_PENDING_RELAYS, []).append((bus, _relay_job(message, relay, outbox_id, attempts_before)))
    return True


def _relay_job(message: EmailMessage, relay: "mail_relay.Target", outbox_id: str | None,
               attempts_before: int) -> "mail_relay.Job":
    envelope_from = relay.sender_email or (_addresses([message.sender]) or [""])[0]
    return mail_relay.Job(message.id, relay, message.raw, envelope_from, list(message.recipients), outbox_id,
                          attempts_before)


# ---------------------------------------------------------------- JSON shapes

def preview(m: EmailMessage) -> str:
    source = m.text if m.text else (html_to_text(m.html) if m.html else "")
    return " ".join(source[:PREVIEW_CHARS * 4].split())[:PREVIEW_CHARS]


_AT_SEND = object()


def summary(m: EmailMessage, relay: dict | None = _AT_SEND) -> dict:
    """A message in lists; `relay` is its MailRelay shape (default: the one it was sent with, if in memory)."""
    if relay is _AT_SEND:
        relay = getattr(m, "relay_at_send", None)
    return {
        "id": m.id,
        "project_id": m.project_id,
        "source": m.source,
        "created_at_millis": m.created_at_millis,
        "from": m.sender,
        "to": list(m.recipients or []),
        "subject": m.subject or "",
        "preview": preview(m),
        "code": m.code,
        "otp": shown_code(m),
        "links": list(m.links or []),
        "has_html": bool(m.html),
        "attachment_count": len(m.attachments or []),
        "relay": relay,
    }


def shown_code(m: EmailMessage) -> str | None:
    """The code as the mail shows it to its reader: the platform's 6-character OTP (the first six characters of its
    link code, upper-cased, as in "Your code is …"), or a code found in the text; None when the only code is in a
    link."""
    code = m.code
    if not code:
        return None
    shown = " ".join(filter(None, (m.subject, m.text, m.html)))
    if _PLATFORM_CODE.match(code):
        otp = code[:6].upper()
        return otp if otp in shown else None
    return None if any(code in link for link in m.links or []) else code


def full(m: EmailMessage, relay: dict | None = _AT_SEND) -> dict:
    cc = [a for n, v in (m.headers or []) if n.lower() == "cc" for a in _addresses([v])]
    return {
        **summary(m, relay),
        "cc": cc,
        "text": m.text,
        "html": m.html,
        "headers": [list(h) for h in (m.headers or [])],
        "attachments": list(m.attachments or []),
    }


def matches(m: EmailMessage, *, to: str | None = None, subject: str | None = None, q: str | None = None,
            project_id: str | None = None) -> bool:
    """The wait API's filter, in Python, as the inbox queries do it in SQL."""
    if project_id is not None and m.project_id != project_id:
        return False
    if to is not None and to.lower() not in [r.lower() for r in m.recipients or []]:
        return False
    if subject is not None and subject.lower() not in (m.subject or "").lower():
        return False
    if q is not None:
        needle = q.lower()
        haystacks = [m.sender or "", m.subject or "", m.text or "", *(m.recipients or [])]
        if not any(needle in h.lower() for h in haystacks):
            return False
    return True
