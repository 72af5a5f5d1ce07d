"""Sessions: refresh tokens (one row per session) and the access tokens minted from them."""
from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.auth import codes, tokens
from emulator.domain.users import users
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E
from emulator.store.models import RefreshToken, User

DEFAULT_SESSION_MILLIS = 365 * 24 * 3600 * 1000
MAX_SESSION_MILLIS = 367 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TokenSigner:
    """What minting an access token needs beyond the user: the signing secret, issuer base URL and lifetime."""
    secret: str
    base_url: str
    lifetime_seconds: float

    def access_token(self, project: ProjectView, user: User, refresh_token_id: str) -> str:
        primary = users.primary_channel(user)
        return tokens.mint(
            self.secret, self.base_url, self.lifetime_seconds, project_id=project.id, user_id=user.id,
            refresh_token_id=refresh_token_id, name=user.display_name, email=primary.value if primary else None,
            email_verified=bool(primary and primary.is_verified), selected_team_id=user.selected_team_id,
            signed_up_at_millis=user.signed_up_at_millis, is_anonymous=user.is_anonymous,
            restricted_reason=users.restricted_reason(user, project),
            requires_totp_mfa=user.totp_secret_base64 is not None)


async def create(db: AsyncSession, project: ProjectView, user: User, *, expires_in_millis: int | None = None,
                 is_impersonation: bool = False) -> RefreshToken:
    now = now_millis()
    session = RefreshToken(id=str(uuid.uuid4()), project_id=project.id, user_id=user.id, token=tokens.random_token(),
                           created_at_millis=now, last_used_at_millis=now,
                           expires_at_millis=now + (expires_in_millis or DEFAULT_SESSION_MILLIS),
                           is_impersonation=is_impersonation)
    db.add(session)
    await db.flush()
    return session


async def sign_in(db: AsyncSession, signer: TokenSigner, project: ProjectView, user: User) -> dict[str, Any]:
    """A new session for a user: the body of every token-issuing auth endpoint."""
    session = await create(db, project, user)
    return {"access_token": signer.access_token(project, user, session.id), "refresh_token": session.token,
            "user_id": user.id}


async def sign_in_unless_mfa(db: AsyncSession, signer: TokenSigner, project: ProjectView, user: User, *,
                             is_new_user: bool = False) -> dict[str, Any]:
    """The one step where a session is about to be issued after a first factor (password, OTP, OAuth, passkey):
    sign in, or, for a user with a TOTP secret, stop with an attempt code for /auth/mfa/sign-in."""
    if user.totp_secret_base64 is not None:
        attempt = await codes.issue(db, project.id, codes.MFA_ATTEMPT,
                                    {"user_id": user.id, "is_new_user": is_new_user}, expires_in_millis=5 * 60 * 1000)
        await db.commit()  # the attempt code must outlive this failing request
        raise E.multi_factor_authentication_required(attempt)
    return await sign_in(db, signer, project, user)


def totp_matches(secret_base64: str, totp: str) -> bool:
    """RFC 6238 (SHA-1, 6 digits, 30 s), the current step only, as the platform checks it.

    Wall-clock time, not the emulator clock: the code comes from an authenticator outside the emulator. Secrets of
    any length are accepted, as the platform does (pyotp refuses keys under 112 bits, so cryptography's TOTP)."""
    generator = TOTP(base64.b64decode(secret_base64), 6, SHA1(), 30, enforce_key_length=False)
    try:
        generator.verify(totp.encode(), time.time())
    except InvalidToken:
        return False
    return True


async def finish_mfa_sign_in(db: AsyncSession, signer: TokenSigner, project: ProjectView, attempt_code: str,
                             totp: str) -> dict[str, Any]:
    attempt = await codes.redeem(db, project.id, codes.MFA_ATTEMPT, attempt_code, consume=False)
    user = await db.get(User, attempt.data["user_id"])
    if user is None or user.totp_secret_base64 is None:
        raise E.verification_code_not_found()
    if not totp_matches(user.totp_secret_base64, totp):  # checked before the code is used up
        raise E.invalid_totp_code()
    attempt.used_at_millis = now_millis()
    return {**await sign_in(db, signer, project, user), "is_new_user": bool(attempt.data.get("is_new_user"))}


_BY_TOKEN = select(RefreshToken).where(RefreshToken.token == bindparam("token"))  # built once: every refresh runs it


async def by_refresh_token(db: AsyncSession, project: ProjectView, token: str) -> tuple[RefreshToken, User]:
    """The live session of a refresh token, or REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED."""
    session = (await db.execute(_BY_TOKEN, {"token": token})).scalar_one_or_none()
    if session is None or session.project_id != project.id or (
            session.expires_at_millis is not None and session.expires_at_millis <= now_millis()):
        raise E.refresh_token_not_found_or_expired()
    user = await db.get(User, session.user_id)
    if user is None:
        raise E.refresh_token_not_found_or_expired()
    session.last_used_at_millis = now_millis()
    user.last_active_at_millis = session.last_used_at_millis
    return session, user


def shape(session: RefreshToken, current_session_id: str | None) -> dict[str, Any]:
    return {"id": session.id, "user_id": session.user_id, "created_at": session.created_at_millis,
            "last_used_at": session.last_used_at_millis, "is_impersonation": session.is_impersonation,
            "is_current_session": session.id == current_session_id, "agent_name": None}


async def list_for_user(db: AsyncSession, project: ProjectView, user_id: str, *, include_impersonation: bool,
                        current_session_id: str | None) -> list[dict[str, Any]]:
    stmt = select(RefreshToken).where(RefreshToken.project_id == project.id, RefreshToken.user_id == user_id,
                                      RefreshToken.expires_at_millis > now_millis())
    if not include_impersonation:
        stmt = stmt.where(RefreshToken.is_impersonation.is_(False))
    rows = (await db.execute(stmt.order_by(RefreshToken.created_at_millis.desc()))).scalars()
    return [shape(s, current_session_id) for s in rows]


async def get(db: AsyncSession, project: ProjectView, session_id: str) -> RefreshToken | None:
    session = await db.get(RefreshToken, session_id)
    return session if session is not None and session.project_id == project.id else None
