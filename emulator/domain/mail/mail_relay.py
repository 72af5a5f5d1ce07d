"""Relaying platform mail to the project's own SMTP server (`emails.server` with `isShared: False` and a host).

Every platform email is caught in the inbox first; relaying is extra. The attempt runs after the catching
transaction commits, in a background task (the database is one shared connection: a slow server must not hold it),
with the stdlib's smtplib in a worker thread. The outcome is kept in a MailRelay row (the inbox API shows it as the
message's `relay`) and, for send-email, on the outbox item (`sent`, or `server-error` like the platform's failed
deliveries). A failure is logged and recorded, never raised.

Failures are told apart as the platform's email queue does: a temporary one (a 4xx reply, a timeout) is tried again
after a backoff, up to 5 attempts in all; any other (refused connection, unknown host, failed login, 5xx reply) ends
the relay at once. Meanwhile the relay is `retrying` and the outbox item `scheduled` with `next_send_retry_at_millis`
(its attempts in `send_attempt_errors`). The wait follows the emulator's clock: advancing it brings the retry forward.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import random
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.utils import formataddr
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.store.models import MailRelay

log = logging.getLogger("hexclave.mail.relay")

TIMEOUT_SECONDS = 15.0  # per connect / read, as the platform's own SMTP client
IMPLICIT_TLS_PORTS = (465, 2465)  # "secure" ports upstream: TLS from the first byte
STARTTLS_REQUIRED_PORTS = (587,)  # submission port: refuse to send credentials or mail in clear text
DEFAULT_PORT = 25
MANAGED_HOST, MANAGED_PORT, MANAGED_USERNAME = "smtp.resend.com", 465, "resend"
MAX_ATTEMPTS = 5  # as the platform: the 5th failed attempt of a temporary failure is the last
BACKOFF_BASE_MILLIS = 20_000  # after the n-th failure: 20 s x 2^n, times a random 0.5..1.5, as the platform
RETRY_POLL_SECONDS = 0.25  # how often a waiting retry looks at the (advanceable) clock


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    username: str | None
    password: str | None
    sender_email: str | None

    @property
    def server(self) -> str:
        return f"{self.host}:{self.port}"


def target(server: dict[str, Any] | None) -> Target | None:
    """Where to relay, from a rendered `emails.server`; None when the project uses the shared server."""
    server = server or {}
    if server.get("isShared", True) is not False:
        return None
    if server.get("provider") == "managed":  # the platform's managed domains go through Resend's SMTP
        if not server.get("password"):
            return None
        local, domain = server.get("managedSenderLocalPart"), server.get("managedSubdomain")
        return Target(MANAGED_HOST, MANAGED_PORT, MANAGED_USERNAME, server["password"],
                      f"{local}@{domain}" if local and domain else None)
    if not server.get("host"):
        return None
    port = server.get("port")
    return Target(server["host"], DEFAULT_PORT if port is None else port, server.get("username") or None,
                  server.get("password") or None, server.get("senderEmail") or None)


def sender(server: dict[str, Any] | None, project_name: str) -> str | None:
    """The From header of a project with its own server: `"senderName" <senderEmail>`; None when shared."""
    server = server or {}
    if server.get("isShared", True) is not False:
        return None
    if server.get("provider") == "managed":
        local, domain = server.get("managedSenderLocalPart"), server.get("managedSubdomain")
        return formataddr((project_name, f"{local}@{domain}")) if local and domain else None
    if not server.get("senderEmail"):
        return None
    return formataddr((server.get("senderName") or project_name, server["senderEmail"]))


# ---------------------------------------------------------------- the attempt (in a worker thread)

class RelayRefused(Exception):
    """A relay the emulator will not attempt (a bad port, or its own SMTP catcher)."""


def _is_own_catcher(host: str, port: int, own: tuple[str, int] | None) -> bool:
    """host:port reaches the emulator's SMTP port: relaying there would catch the message a second time."""
    if own is None or port != own[1]:
        return False
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)}
    except OSError:
        return False
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%")[0])
        if ip.is_loopback or ip.is_unspecified or address == own[0]:
            return True
        if own[0] in ("0.0.0.0", "::", ""):  # bound everywhere: any address of this machine is the catcher
            try:
                with socket.socket(socket.AF_INET6 if ip.version == 6 else socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind((address, 0))
                return True
            except OSError:
                pass
    return False


def send_once(to: Target, raw: bytes, envelope_from: str, recipients: list[str], own: tuple[str, int] | None) -> None:
    """One delivery attempt with smtplib; raises on any failure."""
    if not 0 < to.port < 65536:
        raise RelayRefused(f"emails.server.port must be between 1 and 65535, got {to.port}")
    if _is_own_catcher(to.host, to.port, own):
        raise RelayRefused(f"{to.server} is hexclave-emulator's own SMTP port; relaying there would catch every "
                           "message twice, so it was not attempted")
    context = ssl.create_default_context()
    if to.port in IMPLICIT_TLS_PORTS:
        client: smtplib.SMTP = smtplib.SMTP_SSL(to.host, to.port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        client = smtplib.SMTP(to.host, to.port, timeout=TIMEOUT_SECONDS)
    with client:
        client.ehlo()
        if to.port not in IMPLICIT_TLS_PORTS:
            # STARTTLS when offered (as the platform's client does), and insisted on for the submission port.
            if client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            elif to.port in STARTTLS_REQUIRED_PORTS:
                raise RelayRefused(f"{to.server} does not offer STARTTLS, which port {to.port} requires")
        if to.username and client.has_extn("auth"):  # as the platform's client: no AUTH offered, no login
            client.login(to.username, to.password or "")
        client.sendmail(envelope_from, recipients, raw)


def describe(error: BaseException) -> str:
    """A one-line reason for the inbox and the outbox item."""
    if isinstance(error, RelayRefused):
        return str(error)
    if isinstance(error, smtplib.SMTPAuthenticationError):
        return f"authentication failed ({error.smtp_code} {_text(error.smtp_error)})"
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "recipients refused: " + "; ".join(f"{addr} ({code} {_text(msg)})"
                                                   for addr, (code, msg) in error.recipients.items())
    if isinstance(error, smtplib.SMTPResponseException):
        return f"the server answered {error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, socket.gaierror):
        return f"host not found ({error.strerror})"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return f"timed out after {TIMEOUT_SECONDS:g} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed ({error.reason or error})"
    if isinstance(error, smtplib.SMTPException):
        return str(error) or type(error).__name__
    if isinstance(error, OSError):
        return error.strerror or str(error) or type(error).__name__
    return f"{type(error).__name__}: {error}"


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


@dataclass(frozen=True)
class Failure:
    """A failed attempt: its reason, the platform's errorType for it, and whether it is worth another attempt."""
    message: str
    error_type: str
    temporary: bool


def _reply_code(error: BaseException) -> int | None:
    if isinstance(error, smtplib.SMTPRecipientsRefused) and error.recipients:
        return list(error.recipients.values())[-1][0]
    return getattr(error, "smtp_code", None)


def classify(error: BaseException, to: Target) -> Failure:
    """Which failures the platform retries: 4xx replies and timeouts (and resets from its managed provider)."""
    code = _reply_code(error)
    if isinstance(error, RelayRefused):
        kind, temporary = "UNKNOWN", False
    elif isinstance(error, socket.gaierror):
        kind, temporary = "HOST_NOT_FOUND", False
    elif isinstance(error, smtplib.SMTPAuthenticationError) or code == 535:
        kind, temporary = "AUTH_FAILED", False
    elif code == 450:
        kind, temporary = "TEMPORARY", True
    elif code == 553:
        kind, temporary = "INVALID_EMAIL_ADDRESS", False
    elif code == 554 or isinstance(error, (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused)):
        kind, temporary = "REJECTED", False  # a refused envelope is final, unless its reply was 450
    elif isinstance(error, (socket.timeout, TimeoutError)):
        kind, temporary = "TIMEOUT", True
    elif isinstance(error, smtplib.SMTPServerDisconnected):
        kind, temporary = "SOCKET_CLOSED", False
    elif code is not None and 400 <= code < 500:
        kind, temporary = "TRANSIENT_NEGATIVE_COMPLETION_REPLY", True
    else:
        kind, temporary = "UNKNOWN", isinstance(error, ConnectionResetError) and "resend" in to.host
    return Failure(describe(error), kind, temporary)


def backoff_millis(failed_attempts: int) -> int:
    return int((random.random() + 0.5) * BACKOFF_BASE_MILLIS * 2 ** failed_attempts)


# ---------------------------------------------------------------- recording and running

def shape(row: MailRelay | None) -> dict | None:
    """The `relay` of a message in the inbox API."""
    if row is None:
        return None
    return {"status": row.status, "server": row.server, "error": row.error}


async def records(db: AsyncSession, message_ids: list[str]) -> dict[str, dict]:
    if not message_ids:
        return {}
    rows = (await db.execute(select(MailRelay).where(MailRelay.message_id.in_(message_ids)))).scalars()
    return {row.message_id: shape(row) for row in rows}


@dataclass(frozen=True)
class Job:
    message_id: str
    to: Target
    raw: bytes
    envelope_from: str
    recipients: list[str]
    outbox_id: str | None
    attempts_before: int = 0  # failed attempts of this outbox email so far (a re-send after a restart goes on)


# Outbox emails whose relay is waiting to be retried by a live task: the outbox worker leaves them alone (after a
# restart nothing waits for them any more, and the worker relays their caught copy again when their retry is due).
retrying: set[str] = set()


def begin(db: AsyncSession, job: Job) -> dict:
    """Record the pending relay in the catching transaction; returns its `relay` shape."""
    row = MailRelay(message_id=job.message_id, server=job.to.server, status="sending", error=None,
                    updated_at_millis=now_millis())
    db.add(row)
    return shape(row)


async def run(database, own_smtp: tuple[str, int] | None, job: Job) -> None:
    """Attempt the delivery, retrying temporary failures, and record how each attempt went."""
    attempt = job.attempts_before
    try:
        while True:
            attempt += 1
            failure = None
            try:
                await asyncio.to_thread(send_once, job.to, job.raw, job.envelope_from, job.recipients, own_smtp)
            except Exception as exc:  # everything counts as a failed attempt, nothing escapes
                failure = classify(exc, job.to)
            retry_at = None
            if failure is not None:
                if failure.temporary and attempt < MAX_ATTEMPTS:
                    retry_at = now_millis() + backoff_millis(attempt)
                log.warning("could not relay message %s to %s (attempt %d): %s%s", job.message_id, job.to.server,
                            attempt, failure.message, "; retrying" if retry_at else "")
            if job.outbox_id and retry_at:
                retrying.add(job.outbox_id)
            if not await _record(database, job, attempt, failure, retry_at) or retry_at is None:
                return
            while now_millis() < retry_at:
                await asyncio.sleep(RETRY_POLL_SECONDS)
            if not await _record_retry_start(database, job, retry_at):
                return
    finally:
        if job.outbox_id:
            retrying.discard(job.outbox_id)


async def _record(database, job: Job, attempt: int, failure: Failure | None, retry_at: int | None) -> bool:
    """Record an attempt on the relay row and the outbox item; False when the email is no longer the relay's
    (cancelled, paused or edited meanwhile) or nothing could be recorded."""
    if database is None:
        return retry_at is not None
    try:
        async with database.session() as db:
            row = await db.get(MailRelay, job.message_id)
            if row is not None:
                row.status = "sent" if failure is None else ("retrying" if retry_at else "failed")
                row.error, row.updated_at_millis = failure and failure.message, now_millis()
            ours = True
            if job.outbox_id:
                from emulator.domain.mail import outbox  # outbox imports mail, which starts relays

                ours = await outbox.relay_finished(db, job.outbox_id, job.to.server, attempt, failure, retry_at)
            await db.commit()
            return ours
    except Exception:
        log.exception("could not record the relay of message %s", job.message_id)
        return False


async def _record_retry_start(database, job: Job, retry_at: int) -> bool:
    """Before a retry: the outbox item is `sending` again, unless it changed while it waited (then no retry)."""
    if database is None or not job.outbox_id:
        return True
    from emulator.domain.mail import outbox

    try:
        async with database.session() as db:
            ours = await outbox.relay_retry_starts(db, job.outbox_id, retry_at)
            row = await db.get(MailRelay, job.message_id)
            if row is not None:
                row.status, row.updated_at_millis = ("sending" if ours else "failed"), now_millis()
                if not ours:
                    row.error = "not retried: the outbox email was cancelled, paused or changed"
            await db.commit()
            return ours
    except Exception:
        log.exception("could not record the relay retry of message %s", job.message_id)
        return False
