"""The SMTP server apps send their mail to: aiosmtpd served in the emulator's own asyncio loop.

It accepts any sender and any recipients, with or without AUTH (PLAIN and LOGIN take any credentials, since apps
often configure some), and catches every message through emulator.domain.mail.mail (project_id None, source "smtp").
"""
from __future__ import annotations

import asyncio
import logging
import re

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session

from emulator.domain.mail import mail

log = logging.getLogger("hexclave.smtp")
logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd logs every command, and deprecation notes

HOSTNAME = "hexclave-emulator"
IDENT = "hexclave-emulator mail catcher (ESMTP)"
TOO_LARGE_REPLY = (f"552 5.3.4 Message too large: the hexclave-emulator mail catcher keeps messages of at most "
                   f"{mail.MAX_MESSAGE_BYTES} bytes (10 MB)")
STORE_FAILED_REPLY = "451 4.3.0 hexclave-emulator could not store the message; the emulator's log has the details"
PARSE_IN_THREAD_BYTES = 256 * 1024  # parse big messages off the loop, so HTTP requests keep flowing
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_DOT_ATOM = rf"{_ATOM}(?:\.{_ATOM})*"
# MAIL FROM:<a@b> / RCPT TO:<a@b> [parameters]: a plain address, then nothing or blanks and a parameter
_PLAIN_PATH = re.compile(rf"<({_DOT_ATOM}@{_DOT_ATOM})>(?:[ \t]+(?=[^\s(])|$)")


class CatchAll:
    """aiosmtpd handler: every message is stored, with its envelope recipients.

    Messages that arrive over several connections at once are stored together: one transaction and one INSERT for
    all that are waiting when the store's turn comes (the per-transaction work is most of the cost of a small
    message). Each sender's "250" still comes only once its message is committed."""

    def __init__(self, db, bus: mail.MailBus) -> None:
        self.db = db
        self.bus = bus
        self._waiting: list[tuple["mail.EmailMessage", asyncio.Future]] = []
        self._writer: asyncio.Task | None = None

    async def _store(self, message) -> None:
        stored = asyncio.get_running_loop().create_future()
        self._waiting.append((message, stored))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_waiting())
        await stored

    async def _write_waiting(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            if len(batch) > 1 and await self._insert(batch):
                continue
            for entry in batch:  # one by one: alone, or storing them together failed (one must not fail the others)
                await self._insert([entry])

    async def _insert(self, entries: list[tuple["mail.EmailMessage", asyncio.Future]]) -> bool:
        try:
            async with self.db.session() as db:
                await mail.add_caught(db, self.bus, [message for message, _ in entries])
                await db.commit()
        except Exception as exc:
            if len(entries) == 1:  # the sender is told (451), and its handler logs why
                _settle(entries[0][1], exc)
            return False
        for _, stored in entries:
            _settle(stored, None)
        return True

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if len(raw) > mail.MAX_MESSAGE_BYTES:
            return TOO_LARGE_REPLY
        options = dict(raw=raw, project_id=None, source="smtp", envelope_from=envelope.mail_from or None,
                       envelope_to=list(envelope.rcpt_tos))
        try:
            if len(raw) > PARSE_IN_THREAD_BYTES:
                message = await asyncio.to_thread(lambda: mail.prepare(**options))
            else:
                message = mail.prepare(**options)
            await self._store(message)
        except mail.MessageTooLarge:
            return TOO_LARGE_REPLY
        except Exception:
            log.exception("could not store a message received over SMTP")
            return STORE_FAILED_REPLY
        return f"250 2.0.0 OK: caught as {message.id}"


def _settle(stored: asyncio.Future, error: Exception | None) -> None:
    if stored.done():  # the sender went away meanwhile
        return
    if error is None:
        stored.set_result(None)
    else:
        stored.set_exception(error)


def _accept_any_credentials(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


class CatcherSMTP(SMTP):
    """aiosmtpd's protocol with a lenient line length and our wording for "too large" (552)."""

    line_length_limit = 1 << 20  # RFC 5321 says 1000; a catcher should not turn away sloppy mailers

    def _getaddr(self, arg: str):
        """aiosmtpd's reading of the address in MAIL/RCPT, with a shortcut for the plain `<local@domain>` almost
        every mailer sends: aiosmtpd runs the email package's full RFC 5322 header parser on it, ~0.1 ms a time,
        for the same answer (tests/test_mail_capture.py compares the two). Anything else goes to aiosmtpd."""
        plain = None if self.local_part_limit else _PLAIN_PATH.match(arg)
        if plain is None:
            return super()._getaddr(arg)
        return plain[1], arg[plain.end():]

    async def push(self, status) -> None:
        if isinstance(status, str) and status.startswith("552 Error"):
            status = TOO_LARGE_REPLY
        await super().push(status)


async def start_smtp(host: str, port: int, db, bus: mail.MailBus) -> asyncio.base_events.Server:
    """Serve SMTP on host:port in the running loop (the same loop as the HTTP server)."""
    loop = asyncio.get_running_loop()
    handler = CatchAll(db, bus)

    def protocol() -> CatcherSMTP:
        return CatcherSMTP(handler, hostname=HOSTNAME, ident=IDENT, data_size_limit=mail.MAX_MESSAGE_BYTES,
                           enable_SMTPUTF8=True, auth_require_tls=False, authenticator=_accept_any_credentials,
                           loop=loop)

    server = await loop.create_server(protocol, host, port)
    # Platform mail relayed to a configured SMTP server must never come back here (see mail_relay).
    bus.attach(db, (host, server.sockets[0].getsockname()[1]))
    return server
