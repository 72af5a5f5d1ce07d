"""Simulated OAuth providers: one per provider type the platform supports, served by the emulator itself.

Each provider issues authorization codes (PKCE plain or S256), access and refresh tokens, answers its userinfo
endpoint in that provider's own JSON shape, and, where the real provider is an OpenID Connect issuer, signs ID
tokens (ES256, key derived from the server secret) that verify against its JWKS.

The platform side (emulator/domain/oauth.py) calls these functions in-process; the HTTP endpoints in
emulator/http/routes/oauth_sim.py expose the same functions to apps and tests.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import jwt
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis, now_seconds
from emulator.domain.auth.tokens import audience_keys, random_token
from emulator.store.models import OAuthSimGrant, OAuthSimIdentity

CODE_MILLIS = 10 * 60 * 1000
ACCESS_TOKEN_SECONDS = 3600
MOCK_CLIENT_SECRET = "MOCK-SERVER-SECRET"
# The client ids of the reference's development mock OAuth server (the second port, emulator/http/mock_oauth_server.py):
# shared providers of these types sign in there when that port is on.
MOCK_CLIENT_IDS = ("github", "facebook", "google", "microsoft", "spotify", "discord", "gitlab", "bitbucket", "x")
# What the platform asks the mock server for (the reference's MockProvider base scope).
MOCK_SCOPE = "openid offline_access"
# The refresh errors a test can make the next refresh of a grant fail with (as the reference's mock server).
REFRESH_ERRORS = ("invalid_grant", "access_denied", "consent_required", "invalid_token", "unauthorized_client")


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    color: str  # brand colour of the sign-in page
    base_scope: str  # the scope the platform asks for (the reference's baseScope of that provider)
    oidc: bool  # whether the real provider is an OpenID Connect issuer (ID tokens, discovery, JWKS)
    # How the platform reads this provider's email: None = the provider says whether it is verified,
    # True/False = the platform always treats it so, "none" = the provider gives no email at all.
    email_rule: bool | str | None = None


PROVIDERS: dict[str, ProviderSpec] = {
    "google": ProviderSpec("Google", "#1a73e8",
                           "https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile",
                           True),
    "github": ProviderSpec("GitHub", "#24292f", "user:email", False),
    "microsoft": ProviderSpec("Microsoft", "#2f2f2f", "User.Read openid", True, email_rule=False),
    "spotify": ProviderSpec("Spotify", "#1db954", "user-read-email user-read-private", False, email_rule=False),
    "facebook": ProviderSpec("Facebook", "#1877f2", "openid public_profile email", False, email_rule=False),
    "discord": ProviderSpec("Discord", "#5865f2", "identify email", False),
    "gitlab": ProviderSpec("GitLab", "#fc6d26", "read_user", True),
    "bitbucket": ProviderSpec("Bitbucket", "#0052cc", "account email", False),
    "linkedin": ProviderSpec("LinkedIn", "#0a66c2", "openid profile email", True),
    "apple": ProviderSpec("Apple", "#000000", "name email", True),
    "x": ProviderSpec("X", "#000000", "users.read offline.access tweet.read", False, email_rule="none"),
    "twitch": ProviderSpec("Twitch", "#9146ff", "user:read:email", True, email_rule=True),
}


class SimError(Exception):
    """An OAuth error answer of a simulated provider: `error` is the RFC 6749 code."""

    def __init__(self, error: str, description: str, status: int = 400):
        super().__init__(description)
        self.error, self.description, self.status = error, description, status

    def body(self) -> dict[str, str]:
        return {"error": self.error, "error_description": self.description}


@dataclass
class Identity:
    account_id: str
    email: str | None = None
    name: str | None = None
    avatar_url: str | None = None
    email_verified: bool = True

    def shape(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "email": self.email, "name": self.name,
                "avatar_url": self.avatar_url, "email_verified": self.email_verified}


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode()).digest())


def pkce_matches(challenge: str, method: str, verifier: str) -> bool:
    """RFC 7636: `plain` compares as is, `S256` compares base64url(sha256(verifier))."""
    if method == "S256":
        return secrets.compare_digest(challenge.encode(), s256(verifier).encode())
    if method == "plain":
        return secrets.compare_digest(challenge.encode(), verifier.encode())
    return False


def scopes_of(text: str | None) -> list[str]:
    """Scope strings are space (or comma) separated; duplicates dropped, order kept."""
    out: list[str] = []
    for s in (text or "").replace(",", " ").split():
        if s not in out:
            out.append(s)
    return out


# ---- identities ---------------------------------------------------------------------------------------------------

def config_identities(provider_config: dict[str, Any] | None) -> list[Identity]:
    """The identities a project's hexclave.config.py predefines for a provider (emulatorIdentities)."""
    found = (provider_config or {}).get("emulatorIdentities") or {}
    return [Identity(account_id, v.get("email"), v.get("displayName"), v.get("profileImageUrl"),
                     v.get("emailVerified", True) is not False) for account_id, v in found.items()]


async def known_identities(db: AsyncSession, provider_type: str) -> list[Identity]:
    rows = (await db.execute(select(OAuthSimIdentity).where(OAuthSimIdentity.provider_type == provider_type)
                             .order_by(OAuthSimIdentity.last_used_at_millis.desc()).limit(20))).scalars()
    return [Identity(r.account_id, r.email, r.name, r.avatar_url, r.email_verified) for r in rows]


def default_account_id(email: str | None) -> str:
    """Without an explicit account id, the account id is the email, as at the reference's mock server."""
    return email or "user-" + secrets.token_hex(6)


async def remember(db: AsyncSession, provider_type: str, identity: Identity) -> None:
    row = await db.get(OAuthSimIdentity, (provider_type, identity.account_id))
    if row is None:
        row = OAuthSimIdentity(provider_type=provider_type, account_id=identity.account_id)
        db.add(row)
    row.email, row.name, row.avatar_url = identity.email, identity.name, identity.avatar_url
    row.email_verified, row.last_used_at_millis = identity.email_verified, now_millis()
    await db.flush()


async def identity(db: AsyncSession, provider_type: str, account_id: str) -> Identity | None:
    row = await db.get(OAuthSimIdentity, (provider_type, account_id))
    if row is None:
        return None
    return Identity(row.account_id, row.email, row.name, row.avatar_url, row.email_verified)


# ---- codes and tokens ---------------------------------------------------------------------------------------------

async def issue_code(db: AsyncSession, provider_type: str, who: Identity, *, client_id: str, redirect_uri: str,
                     scope: str, code_challenge: str | None, code_challenge_method: str | None,
                     nonce: str | None) -> str:
    await remember(db, provider_type, who)
    code = f"{provider_type}_code_{random_token(40)}"
    db.add(OAuthSimGrant(token=code, kind="code", provider_type=provider_type, account_id=who.account_id,
                         client_id=client_id, scope=scope,
                         data={"redirect_uri": redirect_uri, "code_challenge": code_challenge,
                               "code_challenge_method": code_challenge_method or "plain", "nonce": nonce},
                         expires_at_millis=now_millis() + CODE_MILLIS))
    await db.flush()
    return code


async def _tokens(db: AsyncSession, provider_type: str, account_id: str, client_id: str, scope: str, *,
                  issuer: str | None, secret: str, nonce: str | None, refresh_token: str | None,
                  openid: bool) -> dict[str, Any]:
    """A token response: a new access token, the given or a new refresh token, and an ID token for OIDC providers
    (or, with `openid`, for any provider when the scope asks for one: the mock OAuth server is an OIDC issuer)."""
    access = f"{provider_type}_at_{random_token(40)}"
    db.add(OAuthSimGrant(token=access, kind="access", provider_type=provider_type, account_id=account_id,
                         client_id=client_id, scope=scope, data={},
                         expires_at_millis=now_millis() + ACCESS_TOKEN_SECONDS * 1000))
    body: dict[str, Any] = {"access_token": access, "token_type": "Bearer", "expires_in": ACCESS_TOKEN_SECONDS,
                            "scope": scope}
    if refresh_token is None:
        refresh_token = f"{provider_type}_rt_{random_token(40)}"
        db.add(OAuthSimGrant(token=refresh_token, kind="refresh", provider_type=provider_type, account_id=account_id,
                             client_id=client_id, scope=scope, data={}, expires_at_millis=None))
        body["refresh_token"] = refresh_token
    if issuer and (PROVIDERS[provider_type].oidc or (openid and "openid" in scopes_of(scope))):
        who = await identity(db, provider_type, account_id) or Identity(account_id)
        body["id_token"] = id_token(secret, issuer, provider_type, who, client_id, nonce)
    await db.flush()
    return body


async def exchange_code(db: AsyncSession, provider_type: str, *, code: str, client_id: str, redirect_uri: str | None,
                        code_verifier: str | None, issuer: str | None, secret: str,
                        openid: bool = False) -> dict[str, Any]:
    row = await db.get(OAuthSimGrant, code)
    if row is None or row.kind != "code" or row.provider_type != provider_type or row.revoked \
            or (row.expires_at_millis or 0) <= now_millis():
        raise SimError("invalid_grant", "The authorization code is invalid, expired or already used.")
    if row.client_id != client_id:
        raise SimError("invalid_grant", "The authorization code was issued to another client.")
    if redirect_uri is not None and redirect_uri != row.data.get("redirect_uri"):
        raise SimError("invalid_grant", "redirect_uri does not match the one of the authorization request.")
    challenge = row.data.get("code_challenge")
    if challenge and not pkce_matches(challenge, row.data.get("code_challenge_method") or "plain", code_verifier or ""):
        raise SimError("invalid_grant", "The PKCE code_verifier does not match the code_challenge.")
    row.revoked = True  # single use
    return await _tokens(db, provider_type, row.account_id, client_id, row.scope, issuer=issuer, secret=secret,
                         nonce=row.data.get("nonce"), refresh_token=None, openid=openid)


async def refresh(db: AsyncSession, provider_type: str, *, refresh_token: str, client_id: str | None,
                  scope: str | None, issuer: str | None, secret: str, openid: bool = False) -> dict[str, Any]:
    row = await db.get(OAuthSimGrant, refresh_token)
    if row is None or row.kind != "refresh" or row.provider_type != provider_type or row.revoked:
        raise SimError("invalid_grant", "The refresh token is invalid or was revoked.")
    if client_id is not None and row.client_id != client_id:
        raise SimError("invalid_grant", "The refresh token was issued to another client.")
    failure = (row.data or {}).get("next_error")
    if failure:
        row.data = {k: v for k, v in row.data.items() if k != "next_error"}
        raise SimError(failure, f"Simulated refresh failure: {failure}.")
    granted = scopes_of(row.scope)
    wanted = scopes_of(scope) or granted
    if any(s not in granted for s in wanted):
        raise SimError("invalid_scope", "The requested scope exceeds the scope granted originally.")
    return await _tokens(db, provider_type, row.account_id, row.client_id, " ".join(wanted), issuer=issuer,
                         secret=secret, nonce=None, refresh_token=refresh_token, openid=openid)


async def access_token_owner(db: AsyncSession, provider_type: str | None, token: str) -> tuple[OAuthSimGrant, Identity] | None:
    """The grant and identity of a live access token (any provider type when `provider_type` is None)."""
    row = await db.get(OAuthSimGrant, token)
    if row is None or row.kind != "access" or row.revoked or (row.expires_at_millis or 0) <= now_millis():
        return None
    if provider_type is not None and row.provider_type != provider_type:
        return None
    who = await identity(db, row.provider_type, row.account_id) or Identity(row.account_id)
    return row, who


async def revoke(db: AsyncSession, token: str) -> bool:
    """Revoke an access or refresh token. Revoking a refresh token also ends the access tokens of its account."""
    row = await db.get(OAuthSimGrant, token)
    if row is None or row.kind == "code":
        return False
    row.revoked = True
    return True


async def revoke_grant(db: AsyncSession, access_token: str) -> bool:
    """Revoke an access token and every refresh token of its grant (same provider, account and client)."""
    row = await db.get(OAuthSimGrant, access_token)
    if row is None or row.kind != "access":
        return False
    row.revoked = True
    for r in (await db.execute(select(OAuthSimGrant).where(
            OAuthSimGrant.kind == "refresh", OAuthSimGrant.provider_type == row.provider_type,
            OAuthSimGrant.account_id == row.account_id, OAuthSimGrant.client_id == row.client_id))).scalars():
        r.revoked = True
    return True


async def fail_next_refresh(db: AsyncSession, token: str, error: str) -> bool:
    """Make the next refresh of `token` (a refresh token, or an access token of the same account) fail."""
    row = await db.get(OAuthSimGrant, token)
    if row is None:
        return False
    rows = [row] if row.kind == "refresh" else list((await db.execute(select(OAuthSimGrant).where(
        OAuthSimGrant.kind == "refresh", OAuthSimGrant.provider_type == row.provider_type,
        OAuthSimGrant.account_id == row.account_id, OAuthSimGrant.client_id == row.client_id))).scalars())
    for r in rows:
        r.data = {**(r.data or {}), "next_error": error}
    return bool(rows)


# ---- documents ----------------------------------------------------------------------------------------------------

def _signing_key(secret: str, provider_type: str):
    return audience_keys(secret, f"oauth-sim:{provider_type}")[0]


def id_token(secret: str, issuer: str, provider_type: str, who: Identity, client_id: str, nonce: str | None) -> str:
    now = int(now_seconds())
    claims: dict[str, Any] = {"iss": issuer, "sub": who.account_id, "aud": client_id, "iat": now,
                              "exp": now + ACCESS_TOKEN_SECONDS, "email": who.email,
                              "email_verified": who.email_verified, "name": who.name, "picture": who.avatar_url}
    if nonce:
        claims["nonce"] = nonce
    key = _signing_key(secret, provider_type)
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key.private, algorithm="ES256",
                      headers={"kid": key.kid})


def jwks(secret: str, provider_type: str) -> dict[str, Any]:
    return {"keys": [{**_signing_key(secret, provider_type).public_jwk(), "use": "sig"}]}


def verify_id_token(secret: str, provider_type: str, token: str, audiences: list[str]) -> dict[str, Any] | None:
    """The claims of an ID token this emulator's simulated `provider_type` signed for one of `audiences` (None if
    not): signature, expiry, audience, and an issuer that is that provider's URL on any host of the emulator."""
    key = _signing_key(secret, provider_type)
    try:
        claims = jwt.decode(token, key.public, algorithms=["ES256"], audience=audiences,
                            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                     "require": ["iss", "sub", "aud", "exp"]})  # expiry on the emulator clock
    except jwt.PyJWTError:
        return None
    if not isinstance(claims["exp"], (int, float)) or claims["exp"] <= now_seconds():
        return None
    return claims if str(claims["iss"]).endswith(f"/emulator/oauth/{provider_type}") else None


def discovery(base: str, provider_type: str) -> dict[str, Any]:
    """OpenID Connect discovery document; `base` is the provider's URL prefix (…/emulator/oauth/<type>)."""
    return {
        "issuer": base,
        "authorization_endpoint": f"{base}/authorize",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/userinfo",
        "jwks_uri": f"{base}/jwks",
        "revocation_endpoint": f"{base}/revoke",
        "response_types_supported": ["code"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "scopes_supported": ["openid", "email", "profile", "offline_access", *scopes_of(PROVIDERS[provider_type].base_scope)],
        "claims_supported": ["sub", "email", "email_verified", "name", "picture"],
    }


def userinfo(provider_type: str, who: Identity) -> dict[str, Any]:
    """The userinfo answer in the shape the real provider's user endpoint has (the fields the platform reads)."""
    i = who
    if provider_type in ("google", "linkedin", "apple"):
        return {"sub": i.account_id, "email": i.email, "email_verified": i.email_verified, "name": i.name,
                "picture": i.avatar_url}
    if provider_type == "github":
        return {"id": i.account_id, "login": (i.email or i.account_id).split("@")[0], "name": i.name,
                "email": i.email, "avatar_url": i.avatar_url}
    if provider_type == "microsoft":
        return {"id": i.account_id, "displayName": i.name, "mail": i.email, "userPrincipalName": i.email}
    if provider_type == "spotify":
        return {"id": i.account_id, "display_name": i.name, "email": i.email,
                "images": [{"url": i.avatar_url}] if i.avatar_url else []}
    if provider_type == "facebook":
        return {"id": i.account_id, "name": i.name, "email": i.email,
                "picture": {"data": {"url": i.avatar_url}} if i.avatar_url else None}
    if provider_type == "discord":
        return {"id": i.account_id, "username": (i.email or i.account_id).split("@")[0], "global_name": i.name,
                "email": i.email, "verified": i.email_verified, "avatar": None, "avatar_url": i.avatar_url}
    if provider_type == "gitlab":
        return {"id": i.account_id, "username": (i.email or i.account_id).split("@")[0], "name": i.name,
                "email": i.email, "avatar_url": i.avatar_url,
                "confirmed_at": "2024-01-01T00:00:00Z" if i.email_verified else None}
    if provider_type == "bitbucket":
        return {"account_id": i.account_id, "display_name": i.name, "links": {"avatar": {"href": i.avatar_url}},
                "emails": {"values": [{"email": i.email, "is_confirmed": i.email_verified, "is_primary": True}]
                           if i.email else []}}
    if provider_type == "x":
        return {"data": {"id": i.account_id, "name": i.name, "username": (i.email or i.account_id).split("@")[0],
                         "profile_image_url": i.avatar_url}}
    if provider_type == "twitch":
        return {"data": [{"id": i.account_id, "login": (i.email or i.account_id).split("@")[0],
                          "display_name": i.name, "email": i.email, "profile_image_url": i.avatar_url}]}
    raise KeyError(provider_type)


@dataclass(frozen=True)
class PlatformUserInfo:
    account_id: str
    email: str | None
    email_verified: bool
    display_name: str | None
    profile_image_url: str | None


def mock_userinfo(who: Identity, scope: str) -> dict[str, Any]:
    """The mock server's /me: the account id is the email typed in; `email` only with the email scope."""
    return {"sub": who.account_id, **({"email": who.account_id} if "email" in scopes_of(scope) else {})}


def mock_platform_user_info(who: Identity) -> PlatformUserInfo:
    """How the platform reads a mock-server account (the reference's MockProvider): the subject is the account id
    and the email, always verified; no name or picture."""
    return PlatformUserInfo(who.account_id, who.account_id, True, None, None)


def platform_user_info(provider_type: str, who: Identity) -> PlatformUserInfo:
    """What the platform makes of an identity, following how the reference reads each real provider
    (e.g. Microsoft, Spotify and Facebook emails count as unverified; X gives no email)."""
    rule = PROVIDERS[provider_type].email_rule
    email = None if rule == "none" else who.email
    verified = bool(email) and (who.email_verified if rule is None else bool(rule))
    return PlatformUserInfo(who.account_id, email, verified, who.name, who.avatar_url)
