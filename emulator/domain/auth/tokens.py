"""Access tokens: ES256 JWTs with exactly the platform's claims, keys derived per audience, and JWKS."""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from emulator import clock, json_input
from emulator.errors import E

CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"  # lowercase Crockford base32: no i, l, o, u


def random_token(length: int = 45) -> str:
    """The platform's opaque secrets (refresh tokens, codes, key bodies): 45 lowercase Crockford-base32 chars."""
    # One random byte per character, its low 5 bits picking the letter: as uniform as secrets.choice (256 is a
    # multiple of 32), without a Python call per character.
    return "".join([CROCKFORD[b & 31] for b in secrets.token_bytes(length)])


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private: ec.EllipticCurvePrivateKey

    @property
    def public(self) -> ec.EllipticCurvePublicKey:
        return self.private.public_key()

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {"kty": "EC", "alg": "ES256", "crv": "P-256", "kid": self.kid,
                "x": _b64url(numbers.x.to_bytes(32, "big")), "y": _b64url(numbers.y.to_bytes(32, "big"))}


_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


@lru_cache(maxsize=512)
def audience_keys(secret: str, audience: str) -> tuple[SigningKey, SigningKey]:
    """Two stable keys per audience, derived from the server secret: the first signs, both verify."""
    keys = []
    for generation in ("current", "previous"):
        seed = hashlib.sha256(json.dumps(["hexclave-emulator-jwk", generation, secret, audience]).encode()).digest()
        scalar = int.from_bytes(seed, "big") % (_P256_ORDER - 1) + 1
        kid = _b64url(hashlib.sha256(json.dumps(["kid", generation, secret, audience]).encode()).digest())[:12]
        keys.append(SigningKey(kid, ec.derive_private_key(scalar, ec.SECP256R1())))
    return keys[0], keys[1]


def audiences(project_id: str, *, include_restricted: bool, include_anonymous: bool) -> list[str]:
    out = [project_id]
    if include_restricted or include_anonymous:
        out.append(f"{project_id}:restricted")
    if include_anonymous:
        out.append(f"{project_id}:anon")
    return out


def jwks(secret: str, project_id: str, *, include_restricted: bool, include_anonymous: bool) -> dict[str, Any]:
    keys = [k.public_jwk()
            for aud in audiences(project_id, include_restricted=include_restricted, include_anonymous=include_anonymous)
            for k in audience_keys(secret, aud)]
    return {"keys": keys}


def issuer(base_url: str, project_id: str, *, is_anonymous: bool, is_restricted: bool) -> str:
    kind = "projects-anonymous-users" if is_anonymous else "projects-restricted-users" if is_restricted else "projects"
    return f"{base_url}/api/v1/{kind}/{project_id}"


def mint(secret: str, base_url: str, lifetime_seconds: float, *, project_id: str, user_id: str, refresh_token_id: str,
         name: str | None, email: str | None, email_verified: bool, selected_team_id: str | None,
         signed_up_at_millis: int, is_anonymous: bool, restricted_reason: dict | None,
         requires_totp_mfa: bool) -> str:
    is_restricted = restricted_reason is not None
    aud = f"{project_id}:anon" if is_anonymous else f"{project_id}:restricted" if is_restricted else project_id
    now = int(clock.now_seconds())
    claims = {
        "sub": user_id,
        "iss": issuer(base_url, project_id, is_anonymous=is_anonymous, is_restricted=is_restricted),
        "aud": aud,
        "iat": now,
        "exp": now + max(1, int(lifetime_seconds)),
        "project_id": project_id,
        "branch_id": "main",
        "refresh_token_id": refresh_token_id,
        "role": "authenticated",
        "name": name,
        "email": email,
        "email_verified": email_verified,
        "selected_team_id": selected_team_id,
        "signed_up_at": signed_up_at_millis // 1000,
        "is_anonymous": is_anonymous,
        "is_restricted": is_restricted,
        "restricted_reason": restricted_reason,
        "requires_totp_mfa": requires_totp_mfa,
    }
    key = audience_keys(secret, aud)[0]
    return jwt.encode(claims, key.private, algorithm="ES256", headers={"kid": key.kid, "typ": None})


_JWT = jwt.PyJWT()


class ExpiredToken(Exception):
    def __init__(self, claims: dict[str, Any]):
        self.claims = claims

    def error(self):
        c = self.claims
        return E.access_token_expired(int(c["exp"]) * 1000 if isinstance(c.get("exp"), (int, float)) else None,
                                      c.get("project_id"), c.get("sub"), c.get("refresh_token_id"))


@lru_cache(maxsize=512)
def _project_kids(secret: str, project_id: str) -> dict[str, tuple[str, SigningKey]]:
    return {key.kid: (aud, key)
            for aud in audiences(project_id, include_restricted=True, include_anonymous=True)
            for key in audience_keys(secret, aud)}


def _header_kid(token: str) -> str | None:
    """Only to pick the verification key; PyJWT then checks the whole token."""
    try:
        segment = token.split(".", 1)[0]
        return json_input.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))).get("kid")
    except (ValueError, AttributeError, TypeError):
        return None


# Tokens whose signature and claims checked out, so a client sending the same token on every request pays for the
# ECDSA check once; expiry is still checked on each use (the clock moves).
_VERIFIED: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
_VERIFIED_MAX = 2048


def decode(secret: str, token: str, project_hint: str | None = None) -> dict[str, Any]:
    """Verify a token's signature and consistency. Raises E.unparsable_access_token() or ExpiredToken.

    `project_hint` (the request's project) lets the usual case find its key without a second parse."""
    claims = _VERIFIED.get((secret, token))
    if claims is None:
        claims = _verify(secret, token, project_hint)
        _VERIFIED[(secret, token)] = claims
        if len(_VERIFIED) > _VERIFIED_MAX:
            _VERIFIED.popitem(last=False)
    if claims["exp"] <= clock.now_seconds():
        raise ExpiredToken(claims)
    return dict(claims)


def _verify(secret: str, token: str, project_hint: str | None) -> dict[str, Any]:
    try:
        found = _project_kids(secret, project_hint).get(_header_kid(token)) if project_hint else None
        if found is None:  # a token of another project, or garbage: read its audience to find out which
            aud = _JWT.decode_complete(token, options={"verify_signature": False})["payload"]["aud"]
            if not isinstance(aud, str) or not aud:
                raise ValueError("aud")
            found = _project_kids(secret, aud.split(":")[0])[_header_kid(token)]
        aud, key = found
        claims = _JWT.decode(token, key.public, algorithms=["ES256"], audience=aud,
                             options={"verify_exp": False, "verify_iat": False, "verify_nbf": False,
                                      "require": ["sub", "exp", "iat"]})  # times are checked on the emulator clock
        project_id, _, suffix = aud.partition(":")
        is_anon, is_restricted = bool(claims.get("is_anonymous")), bool(claims.get("is_restricted"))
        consistent = (claims.get("project_id") == project_id
                      and (suffix == "anon") == is_anon
                      and (suffix == "restricted") == (is_restricted and not is_anon)
                      and (not is_anon or is_restricted)
                      and is_restricted == (claims.get("restricted_reason") is not None))
        if not consistent:
            raise ValueError("inconsistent claims")
    except (jwt.PyJWTError, KeyError, ValueError, TypeError):
        raise E.unparsable_access_token() from None
    return claims
