"""User and team API keys (`/user-api-keys`, `/team-api-keys`): the secret format, who may manage a key, checks.

A key belongs to exactly one user or one team; its full secret is shown once, on creation, and only its last four
characters afterwards. Revoking is one way; expiry is checked when a key is presented to `/…-api-keys/check`.
"""
from __future__ import annotations

import uuid
import zlib
from typing import Any, Literal

from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.teams import permissions, teams
from emulator.domain.users import users
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.domain.auth.tokens import CROCKFORD, random_token
from emulator.errors import E, StatusError
from emulator.store.models import UserOrTeamApiKey, User

KeyType = Literal["user", "team"]

MARKER = "574ck4u7h"
RANDOM_LENGTH = 45
MANAGE_PERMISSION = "$manage_api_keys"


def make_secret(key_id: str, key_type: KeyType, is_public: bool) -> str:
    """The platform's layout, so secret scanners recognise a leaked key and the SDK can parse it:
    `<pk|sk>_` + 45 random chars + the key id as 32 hex + `user|team` + scanner char + marker + CRC32 (8 hex) of
    everything before. The scanner char is a Crockford digit: +1 for self-hosted (the emulator is never the cloud),
    +2 for public keys."""
    prefix = "pk" if is_public else "sk"
    random_part = random_token(RANDOM_LENGTH)
    scanner = CROCKFORD[1 + (2 if is_public else 0)]
    body = f"{prefix}_{random_part}{uuid.UUID(key_id).hex}{key_type}{scanner}{MARKER}"
    return f"{body}{zlib.crc32(body.encode()):08x}"


def shape(key: UserOrTeamApiKey, *, first_view: bool = False) -> dict[str, Any]:
    """The read object (optional timestamps omitted when unset); on creation `value` is the full secret."""
    out: dict[str, Any] = {"id": key.id, "description": key.description}
    if key.expires_at_millis is not None:
        out["expires_at_millis"] = key.expires_at_millis
    if key.manually_revoked_at_millis is not None:
        out["manually_revoked_at_millis"] = key.manually_revoked_at_millis
    out["created_at_millis"] = key.created_at_millis
    out["is_public"] = key.is_public
    out["value"] = key.secret if first_view else {"last_four": key.secret[-4:]}
    out["type"] = key.type
    if key.type == "user":
        out["user_id"] = key.user_id
    else:
        out["team_id"] = key.team_id
    return out


def require_enabled(project: ProjectView, key_type: KeyType) -> None:
    if not project.config["apiKeys"]["enabled"][key_type]:
        raise StatusError(400, f"{key_type.capitalize()} API keys are not enabled for this project.")


async def check_manager(db: AsyncSession, project: ProjectView, acting_user: User | None, is_client: bool, *,
                        user_id: str | None = None, team_id: str | None = None) -> None:
    """Client access manages only its own user's keys, and a team's keys only with `$manage_api_keys` (held
    directly or through a contained permission). Without it the answer is API_KEY_NOT_FOUND, as the reference
    does, so a client cannot probe which teams exist. Server and admin access may manage any key."""
    if not is_client:
        return
    if acting_user is None:
        raise E.user_authentication_required()
    if user_id is not None and user_id != acting_user.id:
        raise StatusError(403, "Client can only manage their own api keys")
    if team_id is not None and not await permissions.has_team_permission(db, project, team_id, acting_user.id,
                                                                         MANAGE_PERMISSION):
        raise E.api_key_not_found()


async def create(db: AsyncSession, project: ProjectView, key_type: KeyType, owner_id: str, data: dict[str, Any]
                 ) -> UserOrTeamApiKey:
    # The owner must exist in this project (the table's foreign keys would otherwise fail).
    if key_type == "user":
        await users.require(db, project, owner_id)
    else:
        await teams.require(db, project, owner_id)
    key_id = str(uuid.uuid4())
    is_public = bool(data.get("is_public", False))
    expires = data.get("expires_at_millis")
    key = UserOrTeamApiKey(
        id=key_id, project_id=project.id, type=key_type,
        user_id=owner_id if key_type == "user" else None, team_id=owner_id if key_type == "team" else None,
        description=data["description"], is_public=is_public, secret=make_secret(key_id, key_type, is_public),
        created_at_millis=now_millis(),
        # Like the reference, 0 means "never expires" (it tests the value for truthiness).
        expires_at_millis=int(expires) if expires else None,
    )
    db.add(key)
    await db.flush()
    return key


async def list_keys(db: AsyncSession, project: ProjectView, key_type: KeyType, owner_id: str
                    ) -> list[UserOrTeamApiKey]:
    owner = UserOrTeamApiKey.user_id if key_type == "user" else UserOrTeamApiKey.team_id
    stmt = select(UserOrTeamApiKey).where(UserOrTeamApiKey.project_id == project.id, owner == owner_id) \
        .order_by(UserOrTeamApiKey.created_at_millis.desc(), literal_column("user_team_api_keys.rowid").desc())
    return list((await db.execute(stmt)).scalars())


async def find(db: AsyncSession, project: ProjectView, key_type: KeyType, key_id: str) -> UserOrTeamApiKey:
    """A key by id in this project. A key of the other type is not found here (the reference fails with an
    internal error in that case)."""
    key = await db.get(UserOrTeamApiKey, key_id)
    if key is None or key.project_id != project.id or key.type != key_type:
        raise E.api_key_not_found()
    return key


def update(key: UserOrTeamApiKey, data: dict[str, Any]) -> None:
    if "description" in data:
        key.description = data["description"]
    # Revoking is one way, and a second revoke keeps the first timestamp.
    if data.get("revoked") and key.manually_revoked_at_millis is None:
        key.manually_revoked_at_millis = now_millis()


async def check(db: AsyncSession, project: ProjectView, key_type: KeyType, secret: str) -> UserOrTeamApiKey:
    """A presented secret, in the reference's order: unknown (in this project), wrong type, revoked, expired."""
    stmt = select(UserOrTeamApiKey).where(UserOrTeamApiKey.project_id == project.id,
                                          UserOrTeamApiKey.secret == secret)
    key = (await db.execute(stmt)).scalar_one_or_none()
    if key is None:
        raise E.api_key_not_found()
    if key.type != key_type:
        raise E.wrong_api_key_type(key_type, key.type)
    if key.manually_revoked_at_millis is not None:
        raise E.api_key_revoked()
    if key.expires_at_millis is not None and key.expires_at_millis < now_millis():
        raise E.api_key_expired()
    return key


async def revoke_leaked(db: AsyncSession, secret: str) -> UserOrTeamApiKey | None:
    """A secret key found in public (credential scanning), in any project: revoked now. Returns the key when this
    call revoked it, None when it was revoked already (nothing more to do)."""
    key = (await db.execute(select(UserOrTeamApiKey).where(UserOrTeamApiKey.secret == secret))).scalar_one_or_none()
    if key is None:
        raise E.api_key_not_found()
    if key.is_public:
        raise E.public_api_key_cannot_be_revoked()
    if key.expires_at_millis is not None and key.expires_at_millis < now_millis():
        raise E.api_key_expired()
    if key.manually_revoked_at_millis is not None:
        return None
    key.manually_revoked_at_millis = now_millis()
    await db.flush()
    return key


async def owners_to_notify(db: AsyncSession, project: ProjectView, key: UserOrTeamApiKey) -> list[str]:
    """Who hears that a key was revoked: its user's primary email, or for a team key every member who may manage
    the team's keys."""
    if key.type == "user":
        user_ids = [key.user_id]
    else:
        granted = await permissions.list_team_permissions(db, project, team_id=key.team_id,
                                                          permission_id=MANAGE_PERMISSION, recursive=True)
        user_ids = sorted({p["user_id"] for p in granted})
    emails = []
    for user_id in user_ids:
        user = await db.get(User, user_id)
        primary = users.primary_channel(user) if user else None
        if primary is not None:
            emails.append(primary.value)
    return emails
