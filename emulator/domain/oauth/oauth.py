"""OAuth on the platform side: the project as OAuth client of a provider (the inner flow) and as OAuth server to its
own SDK (the outer flow: authorization codes exchanged at /auth/oauth/token), user resolution with the account
merge strategies, users' OAuth accounts, and connected-account access tokens.

Every provider is one of the emulator's simulated providers (emulator/domain/oauth_sim.py), called in-process.
"""
from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from sqlalchemy import select, true
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.oauth import oauth_sim as sim
from emulator.domain.auth import sessions
from emulator.domain.users import users
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView, is_trusted_url
from emulator.domain.auth.sign_up import SignUpMethod, sign_up
from emulator.errors import E, KnownError, StatusError
from emulator.settings import env
from emulator.store.models import (ContactChannel, OAuthAccount, OAuthAuthorizationCode, OAuthOuterInfo,
                                   OAuthProviderToken, RefreshToken, User)

OUTER_FLOW_MILLIS = 10 * 60 * 1000
AUTHORIZATION_CODE_MILLIS = 5 * 60 * 1000
DEFAULT_PROVIDER_TOKEN_MILLIS = 3600 * 1000
ACCESS_TOKEN_MIN_REMAINING_MILLIS = 5 * 60 * 1000
NATIVE_APP_SCHEME = "stack-auth-mobile-oauth-url:"
PUBLIC_CLIENT_SENTINEL = "__stack_public_client__"
INNER_COOKIE_PREFIX = "stack-oauth-inner-"
INVALID_GRANT_TEXT = "Inner OAuth callback failed due to invalid grant. Please try again."
REDIRECT_MISMATCH_TEXT = ("Invalid redirect URI. Your redirect URI must be the same as the one used to get the "
                          "authorization code.")


class OAuthProtocolError(Exception):
    """An error the reference's OAuth library answers itself: a JSON body {error, error_description}."""

    def __init__(self, status: int, error: str, description: str):
        super().__init__(description)
        self.status, self.error, self.description = status, error, description


# ---- providers in the config --------------------------------------------------------------------------------------

def find_provider(project: ProjectView, provider_id: str) -> dict[str, Any] | None:
    """The provider's config entry (with its `id`); providers without a type do not count, as upstream."""
    entry = project.config["auth"]["oauth"]["providers"].get(provider_id)
    if not isinstance(entry, dict) or entry.get("type") not in sim.PROVIDERS:
        return None
    return {"id": provider_id, **entry}


def require_provider(project: ProjectView, provider_id: str) -> dict[str, Any]:
    provider = find_provider(project, provider_id)
    if provider is None:
        raise E.oauth_provider_not_found_or_not_enabled()
    return provider


async def check_publishable_key(directory, db: AsyncSession, project: ProjectView, key: str | None,
                                invalid: KnownError) -> None:
    """A client secret of the outer flow: a publishable client key of the project, or the public-client sentinel
    when the project does not require keys; `invalid` is what a wrong key gives."""
    if not key or key == PUBLIC_CLIENT_SENTINEL:
        if project.config["project"]["requirePublishableClientKey"]:
            raise E.publishable_client_key_required(project.id)
        return
    if not await directory.key_is_valid(db, project.id, "client", key):
        raise invalid


async def project_of_client_id(directory, db: AsyncSession, client_id: str) -> ProjectView | None:
    """`projectId` or `projectId#branchId`; only the main branch exists."""
    project_id, _, branch = client_id.partition("#")
    if branch not in ("", "main"):
        return None
    return await directory.view(db, project_id)


def is_shared(provider: dict[str, Any]) -> bool:
    return provider.get("isShared") is not False  # upstream default: the shared keys


def sim_client_id(provider: dict[str, Any]) -> str:
    """The client id the simulated provider knows the project by: its own clientId, else the provider type
    (as the reference's mock server names its clients)."""
    if not is_shared(provider) and provider.get("clientId"):
        return provider["clientId"]
    return provider["type"]


def shared_access_tokens_allowed() -> bool:
    # Upstream refuses provider access tokens of shared providers unless this is exactly "true"; its development
    # setup sets it, and so does the emulator by default.
    return (env("ALLOW_SHARED_OAUTH_ACCESS_TOKENS") or "true") == "true"


def provider_url(base_url: str, provider_type: str) -> str:
    return f"{base_url}/emulator/oauth/{provider_type}"


def inner_callback_url(base_url: str, provider_id: str) -> str:
    return f"{base_url}/api/v1/auth/oauth/callback/{provider_id}"


def is_allowed_redirect(project: ProjectView, url: str | None) -> bool:
    return bool(url) and (is_trusted_url(project.config, url) or url.startswith(NATIVE_APP_SCHEME))


def with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode(query + list(params.items()))))


# ---- authorize: start the inner flow -------------------------------------------------------------------------------

def uses_mock_server(provider: dict[str, Any], mock_url: str | None) -> bool:
    """With the mock OAuth port on, shared providers of the mock server's client types sign in there, as the
    reference's development setup sends them (`STACK_<TYPE>_CLIENT_ID=MOCK`)."""
    return mock_url is not None and is_shared(provider) and provider["type"] in sim.MOCK_CLIENT_IDS


async def start_flow(db: AsyncSession, project: ProjectView, provider: dict[str, Any], query: dict[str, Any], *,
                     base_url: str, user_id: str | None, mock_url: str | None = None) -> tuple[str, str]:
    """Record the outer request and build the provider's authorization URL (at the simulated provider, or at the
    mock OAuth server `mock_url` when it is on). Returns (url, inner state)."""
    verifier = secrets.token_urlsafe(48)
    inner_state = secrets.token_urlsafe(32)
    via_mock = uses_mock_server(provider, mock_url)
    scope = sim.MOCK_SCOPE if via_mock else " ".join(sim.scopes_of(
        sim.PROVIDERS[provider["type"]].base_scope + " " + (query.get("provider_scope") or "")))
    info = {
        "publishableClientKey": query["client_secret"],
        "redirectUri": query["redirect_uri"].split("#")[0],
        "scope": query["scope"], "state": query["state"], "grantType": query["grant_type"],
        "codeChallenge": query["code_challenge"], "codeChallengeMethod": query["code_challenge_method"],
        "responseType": query["response_type"], "innerCodeVerifier": verifier, "type": query["type"],
        "projectUserId": user_id, "providerScope": query.get("provider_scope"),
        "errorRedirectUrl": query.get("error_redirect_uri") or query.get("error_redirect_url"),
        "afterCallbackRedirectUrl": query.get("after_callback_redirect_url"),
        "responseMode": query["stack_response_mode"], "baseUrl": base_url, "providerId": provider["id"],
        "innerScope": scope, "viaMock": via_mock,
    }
    db.add(OAuthOuterInfo(inner_state=inner_state, project_id=project.id, info=info,
                          expires_at_millis=now_millis() + OUTER_FLOW_MILLIS))
    await db.flush()
    endpoint = f"{mock_url}/auth" if via_mock else provider_url(base_url, provider["type"]) + "/authorize"
    url = endpoint + "?" + urlencode({
        "client_id": sim_client_id(provider), "scope": scope, "response_type": "code",
        "redirect_uri": inner_callback_url(base_url, provider["id"]), "code_challenge_method": "S256",
        "code_challenge": sim.s256(verifier),
        "state": inner_state, "access_type": "offline", "prompt": "consent"})
    return url, inner_state


async def outer_info(db: AsyncSession, inner_state: str) -> OAuthOuterInfo | None:
    return await db.get(OAuthOuterInfo, inner_state) if inner_state else None


# ---- callback: finish the inner flow, decide the user, issue the outer code ------------------------------------------

async def provider_user(db: AsyncSession, secret: str, provider: dict[str, Any], info: dict[str, Any],
                        params: dict[str, Any]) -> tuple[sim.PlatformUserInfo, dict[str, Any]]:
    """Exchange the provider's code (the provider's own errors mapped as upstream); the user info and token set."""
    error = params.get("error")
    if error in ("access_denied", "consent_required"):
        raise E.oauth_provider_access_denied()
    if error in ("temporarily_unavailable", "server_error"):
        raise E.oauth_provider_temporarily_unavailable()
    if error:
        raise StatusError(400, f"The OAuth provider answered with the error {error!r}. Please try signing in again.")
    if not params.get("code"):
        raise StatusError(400, INVALID_GRANT_TEXT)
    provider_type = provider["type"]
    try:
        token_set = await sim.exchange_code(
            db, provider_type, code=str(params["code"]), client_id=sim_client_id(provider),
            redirect_uri=inner_callback_url(info["baseUrl"], provider["id"]), code_verifier=info["innerCodeVerifier"],
            issuer=None, secret=secret)
    except sim.SimError as exc:
        if exc.error == "invalid_grant":
            raise StatusError(400, INVALID_GRANT_TEXT) from None
        raise StatusError(400, f"The OAuth provider refused the code: {exc.description}") from None
    owner = await sim.access_token_owner(db, provider_type, token_set["access_token"])
    if owner is None:
        raise E.oauth_provider_temporarily_unavailable()
    if info.get("viaMock"):
        return sim.mock_platform_user_info(owner[1]), token_set
    return sim.platform_user_info(provider_type, owner[1]), token_set


async def _find_sign_in_account(db: AsyncSession, project_id: str, provider_id: str, account_id: str) -> OAuthAccount | None:
    return (await db.execute(select(OAuthAccount).where(
        OAuthAccount.project_id == project_id, OAuthAccount.provider_config_id == provider_id,
        OAuthAccount.provider_account_id == account_id, OAuthAccount.allow_sign_in.is_(True)))).scalars().first()


async def _add_account(db: AsyncSession, project_id: str, user_id: str, provider_id: str, account_id: str,
                       email: str | None, *, allow_sign_in: bool = True, allow_connected_accounts: bool = True) -> OAuthAccount:
    account = OAuthAccount(id=str(uuid.uuid4()), project_id=project_id, user_id=user_id, provider_config_id=provider_id,
                           provider_account_id=account_id, email=email, allow_sign_in=allow_sign_in,
                           allow_connected_accounts=allow_connected_accounts, created_at_millis=now_millis())
    db.add(account)
    await db.flush()
    return account


async def _merge_strategy(db: AsyncSession, project: ProjectView, email: str, email_verified: bool) -> tuple[str | None, bool]:
    """(user id to link to or None, whether the new user's email may be used for sign-in): see contract §1.5."""
    existing = (await db.execute(select(User.id, ContactChannel.is_verified).join(
        ContactChannel, ContactChannel.user_id == User.id).where(
        ContactChannel.project_id == project.id, ContactChannel.type == "email",
        ContactChannel.value == users.normalize_email(email),
        ContactChannel.used_for_auth == true()))).first()  # a literal, as in users.find_by_auth_email
    if existing is None:
        return None, True
    strategy = project.config["auth"]["oauth"]["accountMergeStrategy"]
    if strategy == "link_method":
        if not existing.is_verified:
            raise E.contact_channel_already_used_for_auth(email, would_work_if_email_was_verified=True)
        if not email_verified:
            raise E.contact_channel_already_used_for_auth(email)
        return existing.id, True
    if strategy == "raise_error":
        raise E.contact_channel_already_used_for_auth(email)
    return None, False  # allow_duplicates


async def add_provider_token(db: AsyncSession, project_id: str, account_id: str, kind: str, token: str,
                             scopes: list[str], expires_in: Any = None) -> None:
    now = now_millis()
    expires = None if kind == "refresh" else now + (int(expires_in) * 1000 if expires_in else DEFAULT_PROVIDER_TOKEN_MILLIS)
    db.add(OAuthProviderToken(id=str(uuid.uuid4()), project_id=project_id, oauth_account_id=account_id, kind=kind,
                              token=token, scopes=scopes, expires_at_millis=expires, is_valid=True,
                              created_at_millis=now))
    await db.flush()


async def store_provider_tokens(db: AsyncSession, project_id: str, account_id: str, token_set: dict[str, Any],
                                scopes: list[str]) -> None:
    """The tokens of a sign-in: the refresh token (if any) and the access token with its expiry (default 1 h).
    A sign-in without provider tokens (native Apple sign-in) stores none."""
    if not token_set.get("access_token"):
        return
    if token_set.get("refresh_token"):
        await add_provider_token(db, project_id, account_id, "refresh", token_set["refresh_token"], scopes)
    await add_provider_token(db, project_id, account_id, "access", token_set["access_token"], scopes,
                             token_set.get("expires_in"))


@dataclass
class Resolved:
    user_id: str
    new_user: bool


async def resolve_user(db: AsyncSession, project: ProjectView, provider: dict[str, Any], info: dict[str, Any],
                       who: sim.PlatformUserInfo, token_set: dict[str, Any], *, rounds: int,
                       request_country: str | None = None) -> Resolved:
    """Link, sign in, merge by email, or sign up: the reference's order (contract §1.2 step 5)."""
    provider_id = provider["id"]
    scopes = sim.scopes_of(info["innerScope"]) if "innerScope" in info else \
        sim.scopes_of(sim.PROVIDERS[provider["type"]].base_scope + " " + (info.get("providerScope") or ""))
    old = await _find_sign_in_account(db, project.id, provider_id, who.account_id)
    if info["type"] == "link":
        user_id = info["projectUserId"]
        if await users.get(db, project, user_id) is None:
            raise StatusError(400, "The user who started linking this account no longer exists.")
        if old is not None and old.user_id != user_id:
            raise E.oauth_connection_already_connected_to_another_user()
        account = old or await _add_account(db, project.id, user_id, provider_id, who.account_id, who.email)
        await store_provider_tokens(db, project.id, account.id, token_set, scopes)
        return Resolved(user_id, False)
    if old is not None:
        await store_provider_tokens(db, project.id, old.id, token_set, scopes)
        return Resolved(old.user_id, False)

    linked_user_id, email_auth = (await _merge_strategy(db, project, who.email, who.email_verified)
                                  if who.email else (None, False))
    if linked_user_id:
        account = await _add_account(db, project.id, linked_user_id, provider_id, who.account_id, who.email)
        await store_provider_tokens(db, project.id, account.id, token_set, scopes)
        return Resolved(linked_user_id, False)

    if not project.config["auth"]["allowSignUp"]:
        raise E.sign_up_not_enabled()
    fields: dict[str, Any] = {"display_name": who.display_name, "profile_image_url": who.profile_image_url}
    if who.email:
        fields.update(primary_email=who.email, primary_email_verified=who.email_verified,
                      primary_email_auth_enabled=email_auth)
    current = await users.get(db, project, info["projectUserId"]) if info.get("projectUserId") else None
    # An anonymous user signing in with a provider is upgraded.
    user = await sign_up(db, project, fields, SignUpMethod("oauth", provider_id, request_country), current=current,
                         rounds=rounds)
    account = await _add_account(db, project.id, user.id, provider_id, who.account_id, who.email)
    await store_provider_tokens(db, project.id, account.id, token_set, scopes)
    return Resolved(user.id, True)


# ---- native Apple sign-in ---------------------------------------------------------------------------------------------

async def apple_native_sign_in(db: AsyncSession, signer: sessions.TokenSigner, project: ProjectView, id_token: str, *,
                               rounds: int) -> dict[str, Any]:
    """POST /auth/oauth/callback/apple/native. A real Apple token cannot be checked offline, so the identity token
    must come from the simulated Apple provider (its `token` endpoint, `client_id` = the app's Bundle ID)."""
    entry = project.config["auth"]["oauth"]["providers"].get("apple")
    if not isinstance(entry, dict) or not entry.get("allowSignIn"):
        raise E.oauth_provider_not_found_or_not_enabled()
    bundle_ids = [b["bundleId"] for b in (entry.get("appleBundles") or {}).values()
                  if isinstance(b, dict) and b.get("bundleId")]
    if not bundle_ids:
        raise E.apple_bundle_id_not_configured()
    claims = sim.verify_id_token(signer.secret, "apple", id_token, bundle_ids)
    if claims is None:
        raise E.invalid_apple_credentials()
    email = claims.get("email") if isinstance(claims.get("email"), str) else None
    who = sim.PlatformUserInfo(str(claims["sub"]), email, claims.get("email_verified") in (True, "true"), None, None)
    info = {"type": "authenticate", "projectUserId": None, "innerScope": ""}
    resolved = await resolve_user(db, project, {"id": "apple", **entry}, info, who, {}, rounds=rounds)
    user = await users.get(db, project, resolved.user_id)
    tokens = await sessions.sign_in(db, signer, project, user)
    return {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"], "user_id": user.id,
            "is_new_user": resolved.new_user}


def check_outer_request(project: ProjectView, info: dict[str, Any]) -> None:
    """What the reference's OAuth library checks of the outer request before it asks for the user."""
    if not is_allowed_redirect(project, info["redirectUri"]):
        raise E.redirect_url_not_whitelisted()
    if info["responseType"] != "code":
        raise StatusError(400, "Unsupported response_type: only 'code' is supported.")
    if info["scope"] != "legacy":
        raise StatusError(400, "Invalid scope requested. Please check the scopes you are requesting.")
    if info["codeChallengeMethod"] not in ("plain", "S256"):
        raise StatusError(400, "Invalid code_challenge_method: use 'plain' or 'S256'.")


async def issue_authorization_code(db: AsyncSession, project: ProjectView, user_id: str, *, redirect_uri: str,
                                   code_challenge: str, code_challenge_method: str, new_user: bool,
                                   after_callback_redirect_url: str | None,
                                   granted_refresh_token_id: str | None = None) -> str:
    code = secrets.token_hex(20)
    db.add(OAuthAuthorizationCode(code=code, project_id=project.id, user_id=user_id, redirect_uri=redirect_uri,
                                  code_challenge=code_challenge, code_challenge_method=code_challenge_method,
                                  new_user=new_user, after_callback_redirect_url=after_callback_redirect_url,
                                  granted_refresh_token_id=granted_refresh_token_id,
                                  expires_at_millis=now_millis() + AUTHORIZATION_CODE_MILLIS))
    await db.flush()
    return code


def error_redirect_target(project: ProjectView, info: dict[str, Any]) -> str | None:
    for url in (info.get("redirectUri"), info.get("errorRedirectUrl")):
        if url and is_allowed_redirect(project, url):
            return url
    return None


def error_redirect_url(target: str, error: KnownError) -> str:
    return with_query(target, {"error": "server_error", "error_description": error.message, "errorCode": error.code,
                               "message": error.message, "details": json.dumps(error.details or {})})


# ---- the token endpoint's authorization_code grant -----------------------------------------------------------------

def _is_uri(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and (bool(parts.netloc) or value.startswith(NATIVE_APP_SCHEME))


async def exchange_authorization_code(db: AsyncSession, signer: sessions.TokenSigner, project: ProjectView,
                                      body: dict[str, Any]) -> dict[str, Any]:
    code = body.get("code")
    if not code:
        raise OAuthProtocolError(400, "invalid_request", "Missing parameter: `code`")
    row = await db.get(OAuthAuthorizationCode, str(code))
    if row is None or row.project_id != project.id or row.expires_at_millis <= now_millis():
        raise E.invalid_authorization_code()
    user = await users.get(db, project, row.user_id)
    if user is None:
        raise E.invalid_authorization_code()
    verifier = body.get("code_verifier")
    if row.code_challenge:
        if not verifier or not sim.pkce_matches(row.code_challenge, row.code_challenge_method, str(verifier)):
            raise E.invalid_authorization_code()
    elif verifier:
        raise E.invalid_authorization_code()
    redirect_uri = body.get("redirect_uri")
    if not _is_uri(redirect_uri):
        raise OAuthProtocolError(400, "invalid_request", "Invalid request: `redirect_uri` is not a valid URI")
    if redirect_uri != row.redirect_uri:
        raise StatusError(400, REDIRECT_MISMATCH_TEXT)
    await db.delete(row)  # single use: gone before the session is made, as upstream
    await db.flush()
    session = await db.get(RefreshToken, row.granted_refresh_token_id) if row.granted_refresh_token_id else None
    if session is not None and session.user_id != user.id:
        raise StatusError(401, "Cross-domain handoff refresh token does not belong to the authenticated user.")
    live = session is not None and (session.expires_at_millis is None or session.expires_at_millis > now_millis())
    if live and user.totp_secret_base64 is None:
        tokens = {"access_token": signer.access_token(project, user, session.id), "refresh_token": session.token}
    else:
        tokens = await sessions.sign_in_unless_mfa(db, signer, project, user)
    return {"access_token": tokens["access_token"], "refresh_token": tokens["refresh_token"], "token_type": "Bearer",
            "expires_in": 3600, "scope": "legacy", "is_new_user": row.new_user, "newUser": row.new_user,
            "after_callback_redirect_url": row.after_callback_redirect_url,
            "afterCallbackRedirectUrl": row.after_callback_redirect_url}


# ---- users' OAuth accounts (/oauth-providers, users.oauth_providers) ------------------------------------------------

def account_type(project: ProjectView, provider_config_id: str) -> str | None:
    entry = project.config["auth"]["oauth"]["providers"].get(provider_config_id)
    if isinstance(entry, dict) and entry.get("type"):
        return entry["type"]
    return provider_config_id if provider_config_id in sim.PROVIDERS else None


def account_shape(account: OAuthAccount, provider_type: str, *, server: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"user_id": account.user_id, "id": account.id, "provider_config_id": account.provider_config_id,
                           "type": provider_type, "allow_sign_in": account.allow_sign_in,
                           "allow_connected_accounts": account.allow_connected_accounts}
    if account.email:
        out["email"] = account.email
    if server:
        out["account_id"] = account.provider_account_id
    return out


async def list_accounts(db: AsyncSession, project_id: str, user_id: str | None) -> list[OAuthAccount]:
    stmt = select(OAuthAccount).where(OAuthAccount.project_id == project_id)
    if user_id is not None:
        stmt = stmt.where(OAuthAccount.user_id == user_id)
    return list((await db.execute(stmt.order_by(OAuthAccount.created_at_millis, OAuthAccount.id))).scalars())


async def get_account(db: AsyncSession, project_id: str, user_id: str, account_id: str) -> OAuthAccount:
    account = await db.get(OAuthAccount, account_id)
    if account is None or account.project_id != project_id or account.user_id != user_id:
        raise StatusError(404, f"OAuth provider {account_id} for user {user_id} not found")
    return account


async def check_account_input(db: AsyncSession, project_id: str, *, user_id: str, provider_config_id: str,
                              account_id: str | None, allow_sign_in: bool | None, exclude_id: str | None) -> None:
    """The reference's three uniqueness rules for creating or updating a user's OAuth account."""
    def others(rows):
        return [r for r in rows if r.id != exclude_id]

    same_type_sign_in = others((await db.execute(select(OAuthAccount).where(
        OAuthAccount.project_id == project_id, OAuthAccount.provider_config_id == provider_config_id,
        OAuthAccount.user_id == user_id, OAuthAccount.allow_sign_in.is_(True)))).scalars())
    same_type_and_id = others((await db.execute(select(OAuthAccount).where(
        OAuthAccount.project_id == project_id, OAuthAccount.provider_config_id == provider_config_id,
        OAuthAccount.user_id == user_id, OAuthAccount.provider_account_id == account_id))).scalars()) if account_id else []
    same_id_sign_in = others((await db.execute(select(OAuthAccount).where(
        OAuthAccount.project_id == project_id, OAuthAccount.provider_account_id == account_id,
        OAuthAccount.allow_sign_in.is_(True)))).scalars())
    if allow_sign_in and same_type_sign_in:
        raise StatusError(400, "The same provider type with sign-in enabled already exists for this user.")
    if same_type_and_id:
        raise StatusError(400, "The same provider type with the same account ID already exists for this user.")
    if allow_sign_in and same_id_sign_in:
        raise E.oauth_provider_account_id_already_used_for_sign_in()


async def create_account(db: AsyncSession, project_id: str, data: dict[str, Any]) -> OAuthAccount:
    return await _add_account(db, project_id, data["user_id"], data["provider_config_id"], data["account_id"],
                              data.get("email"), allow_sign_in=data["allow_sign_in"],
                              allow_connected_accounts=data["allow_connected_accounts"])


# ---- connected accounts: provider access tokens -------------------------------------------------------------------

async def connected_access_token(db: AsyncSession, secret: str, provider: dict[str, Any], accounts: list[OAuthAccount],
                                 scope: str | None) -> dict[str, str]:
    """A stored access token that still works and covers `scope`, else one refreshed at the provider."""
    wanted = sim.scopes_of(scope)
    ids = [a.id for a in accounts]
    now = now_millis()
    rows = list((await db.execute(select(OAuthProviderToken).where(
        OAuthProviderToken.oauth_account_id.in_(ids), OAuthProviderToken.is_valid.is_(True))
        .order_by(OAuthProviderToken.created_at_millis))).scalars())
    for row in rows:
        if row.kind != "access" or (row.expires_at_millis or 0) <= now + ACCESS_TOKEN_MIN_REMAINING_MILLIS:
            continue
        if not all(s in row.scopes for s in wanted):
            continue
        if await sim.access_token_owner(db, provider["type"], row.token) is not None:  # the provider confirms it
            return {"access_token": row.token}
        row.is_valid = False
    refreshable = [r for r in rows if r.kind == "refresh" and all(s in r.scopes for s in wanted)]
    if not refreshable:
        raise E.oauth_connection_does_not_have_required_scope()
    for row in refreshable:
        try:
            token_set = await sim.refresh(db, provider["type"], refresh_token=row.token, client_id=None, scope=scope,
                                          issuer=None, secret=secret)
        except sim.SimError:
            row.is_valid = False
            continue
        await add_provider_token(db, row.project_id, row.oauth_account_id, "access", token_set["access_token"],
                                 row.scopes, token_set.get("expires_in"))
        if token_set.get("refresh_token"):  # a rotated refresh token replaces the old one
            row.is_valid = False
            await add_provider_token(db, row.project_id, row.oauth_account_id, "refresh", token_set["refresh_token"],
                                     row.scopes)
        return {"access_token": token_set["access_token"]}
    raise E.oauth_connection_does_not_have_required_scope()
