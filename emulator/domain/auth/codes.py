"""One-time verification codes shared by every code-based flow: sign-in codes, resets, email verification,
invitations, MFA attempts.

Codes are 45 lowercase Crockford-base32 characters. Emails show the first 6 as the OTP; the other 39 are the
"nonce". Attempts are counted per nonce before the code is even looked up, so guessing OTPs for one nonce burns it.
"""
from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.auth.tokens import random_token
from emulator.errors import E
from emulator.store.models import VerificationCode

MAX_ATTEMPTS = 20
DEFAULT_LIFETIME_MILLIS = 7 * 24 * 3600 * 1000
CODE_LENGTH = 45
OTP_LENGTH = 6

ONE_TIME_PASSWORD = "ONE_TIME_PASSWORD"
PASSWORD_RESET = "PASSWORD_RESET"
CONTACT_CHANNEL_VERIFICATION = "CONTACT_CHANNEL_VERIFICATION"
TEAM_INVITATION = "TEAM_INVITATION"
MFA_ATTEMPT = "MFA_ATTEMPT"


async def issue(db: AsyncSession, project_id: str, code_type: str, data: dict[str, Any], *,
                method: dict[str, Any] | None = None, expires_in_millis: int = DEFAULT_LIFETIME_MILLIS) -> str:
    now = now_millis()
    code = random_token(CODE_LENGTH)
    db.add(VerificationCode(id=str(uuid.uuid4()), project_id=project_id, type=code_type, code=code,
                            data={**data, **({"method": method} if method else {})},
                            created_at_millis=now, expires_at_millis=now + expires_in_millis, attempt_count=0))
    await db.flush()
    return code


def link_with_code(callback_url: str, code: str) -> str:
    """The callback URL with `code` set in its query, other parameters kept."""
    parts = urlsplit(callback_url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "code"] + [("code", code)]
    return urlunsplit(parts._replace(query=urlencode(query)))


async def redeem(db: AsyncSession, project_id: str, code_type: str, code: str, *, consume: bool) -> VerificationCode:
    """Check a code in the platform's order; `consume` marks it used (the check-code routes don't).

    The attempt is counted (and committed) first, even when the code turns out wrong."""
    code = code.lower()
    if len(code) != CODE_LENGTH:
        raise E.verification_code_not_found()
    await db.execute(update(VerificationCode)
                     .where(VerificationCode.project_id == project_id,
                            VerificationCode.code.endswith(code[OTP_LENGTH:], autoescape=True))
                     .values(attempt_count=VerificationCode.attempt_count + 1))
    await db.commit()
    row = (await db.execute(select(VerificationCode).where(
        VerificationCode.project_id == project_id, VerificationCode.type == code_type,
        VerificationCode.code == code))).scalar_one_or_none()
    if row is None:
        raise E.verification_code_not_found()
    if row.expires_at_millis <= now_millis():
        raise E.verification_code_expired()
    if row.used_at_millis is not None:
        raise E.verification_code_already_used()
    if row.attempt_count > MAX_ATTEMPTS:
        raise E.verification_code_max_attempts_reached()
    if consume:
        row.used_at_millis = now_millis()
    return row
