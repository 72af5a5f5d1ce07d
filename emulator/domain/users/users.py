"""Users: create, read, update, delete, list, and their client/server shapes."""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import and_, bindparam, delete, exists, inspect, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from emulator.domain.auth import passkeys
from emulator.domain.teams import permissions, teams
from emulator.domain.webhooks import webhooks
from emulator.domain.auth.passwords import check_imported_hash, hash_password_soon
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E, StatusError
from emulator.store import match
from emulator.store.read_cache import ReadCache
from emulator.store.models import ContactChannel, OAuthAccount, RefreshToken, Team, TeamMember, User

CLIENT_USER_FIELDS = (
    "id", "primary_email", "primary_email_verified", "display_name", "client_metadata", "client_read_only_metadata",
    "profile_image_url", "signed_up_at_millis", "has_password", "auth_with_email", "oauth_providers",
    "selected_team_id", "requires_totp_mfa", "otp_auth_enabled", "passkey_auth_enabled", "is_anonymous",
    "is_restricted", "restricted_reason", "restricted_by_admin", "restricted_by_admin_reason", "selected_team",
)
CLIENT_TEAM_FIELDS = ("id", "display_name", "profile_image_url", "client_metadata", "client_read_only_metadata")
DEFAULT_RISK_SCORES = {"sign_up": {"bot": 0, "free_trial_abuse": 0}}


def normalize_email(email: str) -> str:
    return email.strip().lower()


def primary_channel(user: User) -> ContactChannel | None:
    return next((c for c in user.contact_channels if c.is_primary and c.type == "email"), None)


def restricted_reason(user: User, project: ProjectView) -> dict[str, str] | None:
    if user.is_anonymous:
        return {"type": "anonymous"}
    if project.config["onboarding"]["requireEmailVerification"]:
        primary = primary_channel(user)
        if primary is None or not primary.is_verified:
            return {"type": "email_not_verified"}
    if user.restricted_by_admin:
        return {"type": "restricted_by_administrator"}
    return None


def server_shape(user: User, project: ProjectView, team: Team | None) -> dict[str, Any]:
    """The server view; `user.oauth_accounts` must be loaded (it is, for users read from the store; see render)."""
    primary = primary_channel(user)
    reason = restricted_reason(user, project)
    has_password = user.password_hash is not None
    return {
        "id": user.id,
        "primary_email": primary.value if primary else None,
        "primary_email_verified": bool(primary and primary.is_verified),
        "primary_email_auth_enabled": bool(primary and primary.used_for_auth),
        "display_name": user.display_name,
        "selected_team": teams.server_shape(team) if team else None,
        "selected_team_id": team.id if team else None,
        "profile_image_url": user.profile_image_url,
        "signed_up_at_millis": user.signed_up_at_millis,
        "has_password": has_password,
        "otp_auth_enabled": user.otp_auth_enabled,
        "passkey_auth_enabled": user.passkey_auth_enabled,
        "client_metadata": user.client_metadata,
        "client_read_only_metadata": user.client_read_only_metadata,
        "server_metadata": user.server_metadata,
        "last_active_at_millis": user.last_active_at_millis,
        "is_anonymous": user.is_anonymous,
        "is_restricted": reason is not None,
        "restricted_reason": reason,
        "restricted_by_admin": user.restricted_by_admin,
        "restricted_by_admin_reason": user.restricted_by_admin_reason,
        "restricted_by_admin_private_details": user.restricted_by_admin_private_details,
        "country_code": user.country_code,
        "risk_scores": user.risk_scores or DEFAULT_RISK_SCORES,
        "oauth_providers": [{"id": a.provider_config_id, "account_id": a.provider_account_id, "email": a.email}
                            for a in user.oauth_accounts],
        "auth_with_email": has_password or user.otp_auth_enabled,
        "requires_totp_mfa": user.totp_secret_base64 is not None,
    }


def client_shape(server: dict[str, Any]) -> dict[str, Any]:
    out = {k: server[k] for k in CLIENT_USER_FIELDS}
    if out["selected_team"]:
        out["selected_team"] = {k: out["selected_team"][k] for k in CLIENT_TEAM_FIELDS}
    return out


async def render(db: AsyncSession, user: User, project: ProjectView) -> dict[str, Any]:
    team = await db.get(Team, user.selected_team_id) if user.selected_team_id else None
    if "oauth_accounts" in inspect(user).unloaded:  # a user created, or whose accounts changed, in this request
        await db.refresh(user, ["oauth_accounts"])
    return server_shape(user, project, team)


async def render_cached(db: AsyncSession, reads: ReadCache, project: ProjectView, user_id: str) -> dict[str, Any] | None:
    """A user's server shape, None if the project has no such user; kept in `reads` until the next write (or a new
    config). The dict is shared between requests: callers must not change it."""
    key = ("user", user_id)
    hit = reads.get(key)
    if hit is not None and hit[0] == project.id and hit[1] is project.config:
        return hit[2]
    version = reads.version()
    user = await get(db, project, user_id)
    if user is None:
        return None
    shape = await render(db, user, project)
    reads.put(key, (project.id, project.config, shape), version)
    return shape


async def get(db: AsyncSession, project: ProjectView, user_id: str) -> User | None:
    user = await db.get(User, user_id)
    return user if user is not None and user.project_id == project.id else None


async def require(db: AsyncSession, project: ProjectView, user_id: str) -> User:
    user = await get(db, project, user_id)
    if user is None:
        raise E.user_not_found()
    return user


# Built once (every sign-up and sign-in runs it). `used_for_auth = 1` is a literal (true()): SQLite uses the partial
# unique index on (project_id, type, value) only when the query states its condition; with `IS 1` or a bound 1 it
# scanned the project's every contact channel, so sign-up and sign-in slowed as users were added.
_AUTH_EMAIL_OWNER = select(ContactChannel.user_id).where(
    ContactChannel.project_id == bindparam("project_id"), ContactChannel.type == "email",
    ContactChannel.value == bindparam("email"), ContactChannel.used_for_auth == true())


async def find_by_auth_email(db: AsyncSession, project_id: str, email: str) -> User | None:
    row = (await db.execute(_AUTH_EMAIL_OWNER, {"project_id": project_id, "email": normalize_email(email)})).first()
    return await db.get(User, row[0]) if row else None


async def email_used_for_auth_by_other(db: AsyncSession, project_id: str, email: str, user_id: str | None) -> bool:
    other = await find_by_auth_email(db, project_id, email)
    return other is not None and other.id != user_id


def _check_password_allowed(project: ProjectView) -> None:
    if not project.config["auth"]["password"]["allowSignIn"]:
        raise StatusError(400, "Password auth not enabled in the project")


async def _apply_primary_email(db: AsyncSession, project: ProjectView, user: User, data: dict[str, Any]) -> None:
    """primary_email / primary_email_verified / primary_email_auth_enabled, with the reference's rules."""
    if not {"primary_email", "primary_email_verified", "primary_email_auth_enabled"} & data.keys():
        return
    current = primary_channel(user)
    removing = "primary_email" in data and data["primary_email"] is None
    email = normalize_email(data["primary_email"]) if data.get("primary_email") else (
        None if removing else (current.value if current else None))
    verified = False if removing else data.get("primary_email_verified",
                                              bool(current and current.is_verified and current.value == email))
    auth_enabled = False if removing else data.get("primary_email_auth_enabled", bool(current and current.used_for_auth))
    if email is None and verified:
        raise StatusError(400, "primary_email_verified cannot be true without primary_email")
    if email is None and auth_enabled:
        raise StatusError(400, "primary_email_auth_enabled cannot be true without primary_email")
    if email is not None and auth_enabled:
        if await email_used_for_auth_by_other(db, project.id, email, user.id):
            raise E.user_email_already_exists(email)

    if current is not None and current.value != email:
        current.is_primary = False  # demoted, not deleted
        if auth_enabled:
            current.used_for_auth = False
        current = None
    if email is None:
        return
    if current is None:
        current = next((c for c in user.contact_channels if c.type == "email" and c.value == email), None)
    if current is None:
        current = ContactChannel(id=str(uuid.uuid4()), project_id=project.id, user_id=user.id, type="email",
                                 value=email, created_at_millis=now_millis(), is_verified=verified)
        user.contact_channels.append(current)
    current.is_primary = True
    if "primary_email_verified" in data:  # otherwise an existing channel made primary stays as verified as it was
        current.is_verified = verified
    current.used_for_auth = auth_enabled


async def _apply_selected_team(db: AsyncSession, project: ProjectView, user: User, team_id: str | None) -> None:
    if team_id is not None:
        await permissions.require_membership(db, project, team_id, user.id)
    user.selected_team_id = team_id


SIMPLE_FIELDS = ("profile_image_url", "client_metadata", "client_read_only_metadata", "server_metadata",
                 "otp_auth_enabled", "restricted_by_admin_reason", "restricted_by_admin_private_details")


async def apply_update(db: AsyncSession, project: ProjectView, user: User, data: dict[str, Any], *, rounds: int,
                       keep_session_id: str | None = None) -> None:
    """Apply validated fields of a create or update body to a user."""
    state = inspect(user)
    not_stored_yet = state.transient or state.pending  # a user being created: no sessions, nothing refers to it yet
    if "password" in data and "password_hash" in data:
        raise StatusError(400, "Cannot set both password and password_hash at the same time.")
    if data.get("otp_auth_enabled") and not project.config["auth"]["otp"]["allowSignIn"]:
        raise StatusError(400, "OTP auth not enabled in the project")
    if data.get("passkey_auth_enabled"):
        raise StatusError(400, "Cannot enable passkey auth through this endpoint; register a passkey instead.")

    if "display_name" in data:
        user.display_name = data["display_name"] or None
    for field in SIMPLE_FIELDS:
        if field in data:
            setattr(user, field, data[field])
    if "passkey_auth_enabled" in data:
        user.passkey_auth_enabled = False
        await passkeys.remove(db, user.id)
    if "restricted_by_admin" in data:
        user.restricted_by_admin = data["restricted_by_admin"]
        if not data["restricted_by_admin"]:
            user.restricted_by_admin_reason = user.restricted_by_admin_private_details = None
    if "country_code" in data:
        user.country_code = data["country_code"].upper() if data["country_code"] else None
    if "risk_scores" in data:
        user.risk_scores = data["risk_scores"]
    if "totp_secret_base64" in data:
        user.totp_secret_base64 = data["totp_secret_base64"]
    if data.get("is_anonymous") is False and user.is_anonymous:
        user.is_anonymous = False
        user.signed_up_at_millis = now_millis()
        await _rename_personal_teams(db, user, data.get("display_name"), data.get("primary_email"))

    await _apply_primary_email(db, project, user, data)

    if "password" in data or "password_hash" in data:
        if data.get("password") is not None or data.get("password_hash") is not None:
            _check_password_allowed(project)
        if data.get("password") is not None:
            user.password_hash = await hash_password_soon(data["password"], rounds)
        elif data.get("password_hash") is not None:
            user.password_hash = check_imported_hash(data["password_hash"])
        else:
            user.password_hash = None
        # A new password ends every other session (a user being created has none: skip the statement).
        if not not_stored_yet:
            condition = [RefreshToken.user_id == user.id]
            if keep_session_id:
                condition.append(RefreshToken.id != keep_session_id)
            await db.execute(delete(RefreshToken).where(*condition))

    if "selected_team_id" in data:
        await _apply_selected_team(db, project, user, data["selected_team_id"])


async def _rename_personal_teams(db: AsyncSession, user: User, display_name: str | None, email: str | None) -> None:
    """An anonymous user's personal team is named after them once they sign up for real."""
    stmt = select(Team).join(TeamMember, TeamMember.team_id == Team.id).where(
        TeamMember.user_id == user.id, Team.display_name == teams.PERSONAL_TEAM_DEFAULT_NAME)
    for team in (await db.execute(stmt)).scalars():
        team.display_name = teams.personal_team_name(display_name, email)


async def create(db: AsyncSession, project: ProjectView, data: dict[str, Any], *, rounds: int,
                 user_id: str | None = None) -> User:
    now = now_millis()
    user = User(id=user_id or str(uuid.uuid4()), project_id=project.id, signed_up_at_millis=now, last_active_at_millis=now,
                is_anonymous=bool(data.get("is_anonymous", False)), otp_auth_enabled=False, passkey_auth_enabled=False,
                restricted_by_admin=False, contact_channels=[])
    # Added to the session once complete: the queries apply_update makes (e-mail uniqueness) then do not flush a
    # half-made user first, and the user and its contact channel are inserted in one flush.
    await apply_update(db, project, user, {k: v for k, v in data.items() if k != "is_anonymous"}, rounds=rounds)
    db.add(user)
    await db.flush()
    if not data.get("oauth_providers"):
        set_committed_value(user, "oauth_accounts", [])  # just inserted: none can exist (render needs no query)
    for provider in data.get("oauth_providers") or []:  # server create may bring the user's OAuth accounts along
        if provider["id"] not in project.config["auth"]["oauth"]["providers"]:
            raise StatusError(400, f"OAuth provider {provider['id']} not found")
        db.add(OAuthAccount(id=str(uuid.uuid4()), project_id=project.id, user_id=user.id,
                            provider_config_id=provider["id"], provider_account_id=provider["account_id"],
                            email=provider.get("email"), allow_sign_in=True, allow_connected_accounts=True,
                            created_at_millis=now_millis()))
    await permissions.grant_sign_up_defaults(db, project, user.id)
    created = await render(db, user, project)  # the platform announces the user as it was before its personal team
    if project.config["teams"]["createPersonalTeamOnSignUp"]:
        primary = primary_channel(user)
        await teams.create_personal_team(db, project, user, primary.value if primary else None)
    await db.flush()
    await webhooks.emit(db, project, "user.created", created)
    return user


async def update(db: AsyncSession, project: ProjectView, user: User, data: dict[str, Any], *, rounds: int,
                 keep_session_id: str | None = None) -> None:
    """Apply an update to an existing user and announce it (user.updated, with the user as it now is)."""
    await apply_update(db, project, user, data, rounds=rounds, keep_session_id=keep_session_id)
    await announce_update(db, project, user)


async def announce_update(db: AsyncSession, project: ProjectView, user: User) -> None:
    await db.flush()
    await webhooks.emit(db, project, "user.updated", await render(db, user, project))


async def delete_user(db: AsyncSession, project: ProjectView, user: User) -> None:
    """Delete a user; announced as the platform does: team_membership.deleted per team, then user.deleted."""
    team_ids = list((await db.execute(
        select(TeamMember.team_id).join(Team, Team.id == TeamMember.team_id).where(TeamMember.user_id == user.id)
        .order_by(Team.created_at_millis, Team.id))).scalars())
    await db.delete(user)
    await db.flush()
    for team_id in team_ids:
        await webhooks.emit(db, project, "team_membership.deleted", {"team_id": team_id, "user_id": user.id})
    await webhooks.emit(db, project, "user.deleted", {"id": user.id, "teams": [{"id": t} for t in team_ids]})


def _truthy(value: Any) -> bool:
    return value is True


async def list_users(db: AsyncSession, project: ProjectView, q: dict[str, Any]) -> dict[str, Any]:
    """GET /users: filters, order and cursor pagination (next_cursor = last row of this page, exclusive)."""
    include_anonymous = _truthy(q.get("include_anonymous"))
    if q.get("only_anonymous") and not include_anonymous:
        raise StatusError(400, "only_anonymous=true requires include_anonymous=true")
    stmt = select(User).where(User.project_id == project.id)
    if q.get("only_anonymous"):
        stmt = stmt.where(User.is_anonymous.is_(True))
    elif not include_anonymous:
        stmt = stmt.where(User.is_anonymous.is_(False))
    if not (include_anonymous or _truthy(q.get("include_restricted"))):
        stmt = stmt.where(User.restricted_by_admin.is_(False))
        if project.config["onboarding"]["requireEmailVerification"]:
            stmt = stmt.where(exists().where(ContactChannel.user_id == User.id, ContactChannel.is_primary.is_(True),
                                             ContactChannel.is_verified.is_(True)))
    if q.get("team_id"):
        stmt = stmt.where(exists().where(TeamMember.team_id == q["team_id"], TeamMember.user_id == User.id))
    # Two filters the dashboard offers and the API does not: restricted by an admin, primary e-mail verified.
    if q.get("only_restricted"):
        stmt = stmt.where(User.restricted_by_admin.is_(True))
    if q.get("verified") is not None:
        verified = exists().where(ContactChannel.user_id == User.id, ContactChannel.is_primary.is_(True),
                                  ContactChannel.is_verified.is_(True))
        stmt = stmt.where(verified if q["verified"] else ~verified)
    if q.get("query"):
        needle = q["query"]
        stmt = stmt.where(or_(
            User.id == needle, match.contains(User.display_name, needle),
            exists().where(ContactChannel.user_id == User.id, match.contains(ContactChannel.value, needle))))
    column = User.last_active_at_millis if q.get("order_by") == "last_active_at" else User.signed_up_at_millis
    descending = _truthy(q.get("desc"))
    if q.get("cursor"):
        anchor = (await db.execute(select(column, User.id).where(User.id == q["cursor"],
                                                                   User.project_id == project.id))).first()
        if anchor is not None:
            after = (column < anchor[0]) | (and_(column == anchor[0], User.id < anchor[1])) if descending else \
                (column > anchor[0]) | (and_(column == anchor[0], User.id > anchor[1]))
            stmt = stmt.where(after)
    stmt = stmt.order_by(column.desc(), User.id.desc()) if descending else stmt.order_by(column, User.id)
    limit = q.get("limit")
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    users = list((await db.execute(stmt)).unique().scalars())
    has_more = limit is not None and len(users) > limit
    users = users[:limit] if limit is not None else users
    teams = await _teams_by_id(db, {u.selected_team_id for u in users if u.selected_team_id})
    items = [server_shape(u, project, teams.get(u.selected_team_id)) for u in users]
    return {"items": items, "is_paginated": True,
            "pagination": {"next_cursor": users[-1].id if has_more and users else None}}


async def _teams_by_id(db: AsyncSession, ids: set[str]) -> dict[str, Team]:
    if not ids:
        return {}
    return {t.id: t for t in (await db.execute(select(Team).where(Team.id.in_(ids)))).scalars()}
