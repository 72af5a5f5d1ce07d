"""Passkeys (WebAuthn): registration for a signed-in user and sign-in, as the platform's /auth/passkey/* endpoints.

Ceremonies are verified by the `webauthn` package. Like the platform, the options carry a placeholder relying-party
id that the browser SDK replaces with the page's host; the server takes the origin from the signed client data,
accepts it when it is a trusted URL of the project (localhost when allowed, trusted domains with wildcards), and
then expects that origin and its hostname as the RP id. A user has at most one passkey; registering again
replaces it.
"""
from __future__ import annotations

import secrets
import uuid
from typing import Any, Callable
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.auth import codes
from emulator.domain.projects.projects import ProjectView, is_trusted_url
from emulator.errors import E, KnownError
from emulator.settings import env
from emulator.store.models import PasskeyCredential, User

REGISTRATION_CHALLENGE = "PASSKEY_REGISTRATION_CHALLENGE"
AUTHENTICATION_CHALLENGE = "PASSKEY_AUTHENTICATION_CHALLENGE"
TIMEOUT_MILLIS = 60_000
PLACEHOLDER_RP_ID = "THIS_VALUE_WILL_BE_REPLACED.example.com"
# EdDSA, ES256, RS256: what the platform offers.
ALGORITHMS = (-8, -7, -257)


def _webauthn():
    """The webauthn package, imported on the first passkey ceremony: it loads X.509 and ASN.1 parsers that would
    add about a tenth of a second to every start, for a feature most projects leave off."""
    import webauthn
    import webauthn.helpers

    return webauthn


def bytes_to_base64url(data: bytes) -> str:
    return _webauthn().helpers.bytes_to_base64url(data)


def base64url_to_bytes(text: str) -> bytes:
    return _webauthn().helpers.base64url_to_bytes(text)


def fixed_challenge() -> bool:
    """The platform's development setup answers every ceremony with the challenge "MOCK"
    (STACK_ENABLE_HARDCODED_PASSKEY_CHALLENGE_FOR_TESTING, on in its .env.development); the emulator follows that
    default. Set HEXCLAVE_ENABLE_HARDCODED_PASSKEY_CHALLENGE_FOR_TESTING=no for a fresh random challenge each time."""
    value = env("ENABLE_HARDCODED_PASSKEY_CHALLENGE_FOR_TESTING", "yes")
    return value.strip().lower() not in ("0", "false", "no", "off")


def new_challenge() -> str:
    return bytes_to_base64url(b"MOCK" if fixed_challenge() else secrets.token_bytes(32))


def require_enabled(project: ProjectView) -> None:
    if not project.config["auth"]["passkey"]["allowSignIn"]:
        raise E.passkey_authentication_not_enabled()


def _user_name(user: User) -> str:
    primary = next((c for c in user.contact_channels if c.is_primary and c.type == "email"), None)
    return user.display_name or (primary.value if primary else None) or "Hexclave User"


async def initiate_registration(db: AsyncSession, project: ProjectView, user: User) -> dict[str, Any]:
    require_enabled(project)
    challenge, user_handle = new_challenge(), bytes_to_base64url(user.id.encode())
    options = {
        "challenge": challenge,
        "rp": {"name": project.display_name, "id": PLACEHOLDER_RP_ID},
        # The user's id as the WebAuthn user handle: a browser keeps one passkey per user and site.
        "user": {"id": user_handle, "name": _user_name(user), "displayName": _user_name(user)},
        "pubKeyCredParams": [{"alg": alg, "type": "public-key"} for alg in ALGORITHMS],
        "timeout": TIMEOUT_MILLIS,
        "attestation": "none",
        "excludeCredentials": [],
        "authenticatorSelection": {"residentKey": "required", "userVerification": "preferred",
                                   "requireResidentKey": True},
        "extensions": {"credProps": True},
    }
    code = await codes.issue(db, project.id, REGISTRATION_CHALLENGE, {"challenge": challenge, "userHandle": user_handle},
                             expires_in_millis=TIMEOUT_MILLIS + 5000)
    return {"options_json": options, "code": code}


async def initiate_authentication(db: AsyncSession, project: ProjectView) -> dict[str, Any]:
    require_enabled(project)
    challenge = new_challenge()
    options = {"challenge": challenge, "timeout": TIMEOUT_MILLIS, "rpId": PLACEHOLDER_RP_ID, "allowCredentials": [],
               "userVerification": "preferred"}
    code = await codes.issue(db, project.id, AUTHENTICATION_CHALLENGE, {"challenge": challenge},
                             expires_in_millis=TIMEOUT_MILLIS + 5000)
    return {"options_json": options, "code": code}


async def _use_code(db: AsyncSession, project: ProjectView, code_type: str, code: str):
    """Like the platform, a challenge code is used up before the credential is checked, so a failed attempt
    cannot be retried with the same code."""
    row = await codes.redeem(db, project.id, code_type, code, consume=True)
    await db.commit()
    return row


def _trusted_origin(project: ProjectView, response: Any, failure: Callable[[str], KnownError], what: str) -> str:
    """The origin in the credential's client data, if the project trusts it; else `failure`."""
    try:
        origin = _webauthn().helpers.parse_client_data_json(base64url_to_bytes(response["response"]["clientDataJSON"])).origin
    except Exception:  # not a credential at all: the platform's parser would throw too
        raise failure(f"{what} failed because the credential's client data could not be read.") from None
    if not isinstance(origin, str) or not is_trusted_url(project.config, origin):
        raise failure(f"{what} failed because the origin is not allowed.")
    return origin


async def register(db: AsyncSession, project: ProjectView, user: User, code: str, credential: Any) -> dict[str, Any]:
    row = await _use_code(db, project, REGISTRATION_CHALLENGE, code)
    require_enabled(project)
    origin = _trusted_origin(project, credential, E.passkey_registration_failed, "Passkey registration")
    try:
        verified = _webauthn().verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(row.data["challenge"]),
            expected_origin=origin, expected_rp_id=urlsplit(origin).hostname, require_user_verification=False)
    except Exception as exc:  # webauthn's InvalidRegistrationResponse, or a malformed credential
        raise E.passkey_registration_failed(f"Passkey registration failed: {exc}") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    await db.execute(delete(PasskeyCredential).where(PasskeyCredential.user_id == user.id))
    transports = credential.get("response", {}).get("transports") if isinstance(credential, dict) else None
    db.add(PasskeyCredential(id=str(uuid.uuid4()), project_id=project.id, user_id=user.id, credential_id=credential_id,
                             public_key=bytes_to_base64url(verified.credential_public_key),
                             sign_count=verified.sign_count, transports=transports,
                             device_type=verified.credential_device_type.value, created_at_millis=now_millis()))
    user.passkey_auth_enabled = True
    await db.flush()
    return {"user_handle": credential_id}


async def authenticate(db: AsyncSession, project: ProjectView, code: str, response: Any) -> User:
    """The user whose passkey signed this challenge (counter updated), or PASSKEY_AUTHENTICATION_FAILED."""
    row = await _use_code(db, project, AUTHENTICATION_CHALLENGE, code)
    require_enabled(project)
    credential_id = response.get("id") if isinstance(response, dict) else None
    passkey = (await db.execute(select(PasskeyCredential).where(
        PasskeyCredential.project_id == project.id,
        PasskeyCredential.credential_id == str(credential_id)))).scalars().first()
    if passkey is None:
        raise E.passkey_authentication_failed("Passkey not found")
    origin = _trusted_origin(project, response, E.passkey_authentication_failed, "Passkey authentication")
    try:
        verified = _webauthn().verify_authentication_response(
            credential=response, expected_challenge=base64url_to_bytes(row.data["challenge"]),
            expected_origin=origin, expected_rp_id=urlsplit(origin).hostname,
            credential_public_key=base64url_to_bytes(passkey.public_key),
            credential_current_sign_count=passkey.sign_count, require_user_verification=False)
    except Exception as exc:  # webauthn's InvalidAuthenticationResponse, or a malformed response
        raise E.passkey_authentication_failed(f"Passkey authentication failed: {exc}") from None
    passkey.sign_count = verified.new_sign_count
    return await db.get(User, passkey.user_id)


async def remove(db: AsyncSession, user_id: str) -> None:
    """Passkey sign-in switched off for a user (passkey_auth_enabled: false): the stored passkey goes."""
    await db.execute(delete(PasskeyCredential).where(PasskeyCredential.user_id == user_id))
