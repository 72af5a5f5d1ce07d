"""CLI login: a command-line app starts an attempt, shows the login code to a browser and polls until the browser's
signed-in user completes it; then the CLI receives that browser session's refresh token.

A CLI that already holds an anonymous session passes its refresh token when starting; the browser can `check` for
it and `claim-anon-session` it (to upgrade that same user in place), or ignore it: completing with another user
never merges the anonymous user into it. The platform answers most failures here with plain 400 texts.
Expiry follows the emulator clock.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.auth import sessions
from emulator.domain.projects.projects import ProjectView
from emulator.domain.auth.tokens import random_token
from emulator.errors import E, StatusError
from emulator.store.models import CliAuthAttempt, RefreshToken, User

DEFAULT_LIFETIME_MILLIS = 2 * 3600 * 1000
MAX_LIFETIME_MILLIS = 24 * 3600 * 1000
INVALID_LOGIN_CODE = "Invalid login code or the code has expired"
NO_ANONYMOUS_SESSION = "No anonymous session associated with this code"


def _is_live(session: RefreshToken) -> bool:
    return session.expires_at_millis is None or session.expires_at_millis > now_millis()


async def _session_by_token(db: AsyncSession, token: str) -> RefreshToken | None:
    return (await db.execute(select(RefreshToken).where(RefreshToken.token == token))).scalar_one_or_none()


async def start(db: AsyncSession, project: ProjectView, *, expires_in_millis: int,
                anon_refresh_token: str | None) -> CliAuthAttempt:
    if anon_refresh_token:
        session = await _session_by_token(db, anon_refresh_token)
        if session is None:
            raise StatusError(400, "Invalid anon refresh token")
        if session.project_id != project.id:
            raise StatusError(400, "Anon refresh token does not belong to this project")
        if not _is_live(session):
            raise StatusError(400, "The provided anon refresh token has expired")
        user = await db.get(User, session.user_id)
        if user is None:
            raise StatusError(400, "User not found for provided refresh token")
        if not user.is_anonymous:
            raise StatusError(400, "The provided refresh token does not belong to an anonymous user")
    now = now_millis()
    attempt = CliAuthAttempt(id=str(uuid.uuid4()), project_id=project.id, polling_code=random_token(),
                             login_code=random_token(), anon_refresh_token=anon_refresh_token or None,
                             created_at_millis=now, expires_at_millis=now + expires_in_millis)
    db.add(attempt)
    await db.flush()
    return attempt


async def poll(db: AsyncSession, project: ProjectView, polling_code: str) -> tuple[str, str | None]:
    """The attempt's status (waiting, success, expired, used) and, on the one success answer, the refresh token."""
    attempt = (await db.execute(select(CliAuthAttempt).where(
        CliAuthAttempt.project_id == project.id, CliAuthAttempt.polling_code == polling_code))).scalar_one_or_none()
    if attempt is None:
        raise E.invalid_polling_code()
    if attempt.expires_at_millis < now_millis():
        return "expired", None
    if attempt.used_at_millis is not None:
        return "used", None
    if attempt.refresh_token is None:
        return "waiting", None
    attempt.used_at_millis = now_millis()
    return "success", attempt.refresh_token


async def _pending(db: AsyncSession, project: ProjectView, login_code: str) -> CliAuthAttempt:
    attempt = (await db.execute(select(CliAuthAttempt).where(
        CliAuthAttempt.project_id == project.id, CliAuthAttempt.login_code == login_code))).scalar_one_or_none()
    if attempt is None or attempt.refresh_token is not None or attempt.used_at_millis is not None \
            or attempt.expires_at_millis < now_millis():
        raise StatusError(400, INVALID_LOGIN_CODE)
    return attempt


async def _live_session(db: AsyncSession, project: ProjectView, token: str) -> RefreshToken | None:
    session = await _session_by_token(db, token)
    if session is None:
        return None
    if session.project_id != project.id:
        raise StatusError(400, "Refresh token does not belong to this project")
    return session if _is_live(session) else None


async def _anonymous_session(db: AsyncSession, project: ProjectView,
                             attempt: CliAuthAttempt) -> tuple[RefreshToken, User] | None:
    """The CLI's anonymous session, while it is still live and its user still anonymous (not yet upgraded)."""
    if attempt.anon_refresh_token is None:
        return None
    session = await _live_session(db, project, attempt.anon_refresh_token)
    user = await db.get(User, session.user_id) if session else None
    if user is None or not user.is_anonymous:
        return None
    return session, user


async def complete(db: AsyncSession, signer: sessions.TokenSigner, project: ProjectView, *, login_code: str,
                   mode: str, refresh_token: str | None) -> dict[str, Any]:
    attempt = await _pending(db, project, login_code)
    if mode == "check":
        return {"cli_session_state": "anonymous" if await _anonymous_session(db, project, attempt) else "none"}
    if mode == "claim-anon-session":
        found = await _anonymous_session(db, project, attempt)
        if found is None:
            raise StatusError(400, NO_ANONYMOUS_SESSION)
        session, user = found
        attempt.anon_refresh_token = None  # one claim only: a replay cannot fetch the anonymous tokens again
        return {"access_token": signer.access_token(project, user, session.id), "refresh_token": session.token}
    if not refresh_token:
        raise StatusError(400, "refresh_token is required when mode is 'complete'")
    if await _live_session(db, project, refresh_token) is None:
        raise StatusError(400, "Invalid refresh token")
    attempt.refresh_token = refresh_token
    attempt.anon_refresh_token = None  # an anonymous CLI user is left as it is, never merged
    return {"success": True}
