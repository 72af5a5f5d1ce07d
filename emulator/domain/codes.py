"""One-time verification codes shared by every code-based flow (MFA attempts now; email links later)."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.projects import now_millis
from emulator.domain.tokens import random_token
from emulator.errors import E
from emulator.store.models import VerificationCode

MAX_ATTEMPTS = 20


async def issue(db: AsyncSession, project_id: str, code_type: str, data: dict[str, Any], *,
                expires_in_millis: int) -> str:
    now = now_millis()
    code = random_token()
    db.add(VerificationCode(id=str(uuid.uuid4()), project_id=project_id, type=code_type, code=code, data=data,
                            created_at_millis=now, expires_at_millis=now + expires_in_millis, attempt_count=0))
    await db.flush()
    return code


async def find_usable(db: AsyncSession, project_id: str, code_type: str, code: str) -> VerificationCode:
    """The live code, or the flow's known error: not found, expired, already used, too many attempts."""
    row = (await db.execute(select(VerificationCode).where(
        VerificationCode.project_id == project_id, VerificationCode.type == code_type,
        VerificationCode.code == code.lower()))).scalar_one_or_none()
    if row is None:
        raise E.verification_code_not_found()
    if row.attempt_count >= MAX_ATTEMPTS:
        raise E.verification_code_max_attempts_reached()
    if row.expires_at_millis <= now_millis():
        raise E.verification_code_expired()
    if row.used_at_millis is not None:
        raise E.verification_code_already_used()
    return row


async def count_failed_attempt(db: AsyncSession, row: VerificationCode) -> None:
    """A wrong answer against a live code counts, and is kept even though the request fails."""
    row.attempt_count += 1
    await db.flush()
    await db.commit()


def consume(row: VerificationCode) -> None:
    row.used_at_millis = now_millis()
