"""The SMTP server apps send their mail to: aiosmtpd served in the emulator's own asyncio loop.

It accepts any sender and any recipients, with or without AUTH (PLAIN and LOGIN take any credentials, since apps
often configure some), and catches every message through emulator.domain.mail.mail (project_id None, source "smtp").
"""
from __future__ import annotations

import asyncio
import logging

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


class CatchAll:
    """aiosmtpd handler: every message is stored, with its envelope recipients."""

    def __init__(self, db, bus: mail.MailBus) -> None:
        self.db = db
        self.bus = bus

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
            async with self.db.session() as db:
                await mail.add(db, self.bus, message)
                await db.commit()
        except mail.MessageTooLarge:
            return TOO_LARGE_REPLY
        except Exception:
            log.exception("could not store a message received over SMTP")
            return STORE_FAILED_REPLY
        return f"250 2.0.0 OK: caught as {message.id}"


def _accept_any_credentials(server, session, envelope, mechanism, auth_data) -> AuthResult:
    return AuthResult(success=True, auth_data=auth_data)


class CatcherSMTP(SMTP):
    """aiosmtpd's protocol with a lenient line length and our wording for "too large" (552)."""

    line_length_limit = 1 << 20  # RFC 5321 says 1000; a catcher should not turn away sloppy mailers

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
