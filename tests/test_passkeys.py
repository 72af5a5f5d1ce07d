"""Passkeys over HTTP with a software authenticator (tests/soft_authenticator.py): registration for a signed-in user,
sign-in, the relying-party rules (trusted origins: localhost, trusted domains with wildcards), passkeyAuthEnabled,
MFA after a passkey, replay and counter checks, switching passkeys off, and bad input.

Reference: apps/backend/src/app/api/latest/auth/passkey/** (initiate-passkey-registration, register,
initiate-passkey-authentication, sign-in), known-errors.tsx (PASSKEY_*), e2e auth/passkey/*.test.ts.
"""
from __future__ import annotations

import base64

import pytest

from soft_authenticator import SoftAuthenticator
from support import start_emulator
from wire import call, known_error, ok, schema_error, sign_up, write_config

APP = "http://localhost:3000"
CONFIG = {"auth": {"password": {"allowSignIn": True}, "passkey": {"allowSignIn": True}},
          "domains": {"allowLocalhost": True, "trustedDomains": {"app": {"baseUrl": "https://*.example.com"}}}}
RANDOM_CHALLENGES = {"HEXCLAVE_ENABLE_HARDCODED_PASSKEY_CHALLENGE_FOR_TESTING": "no"}


@pytest.fixture(scope="module")
def pemu():
    e = start_emulator(config=write_config(CONFIG), env=RANDOM_CHALLENGES)
    yield e
    e.stop()


def initiate_registration(emu, token: str) -> dict:
    return ok(call(emu, "POST", "/auth/passkey/initiate-passkey-registration", token=token, json={}))


def register(emu, token: str, authenticator: SoftAuthenticator, origin: str = APP):
    started = initiate_registration(emu, token)
    return call(emu, "POST", "/auth/passkey/register", token=token,
                json={"credential": authenticator.create(started["options_json"], origin), "code": started["code"]})


def initiate_sign_in(emu) -> dict:
    return ok(call(emu, "POST", "/auth/passkey/initiate-passkey-authentication", json={}))


def passkey_sign_in(emu, authenticator: SoftAuthenticator, origin: str = APP):
    started = initiate_sign_in(emu)
    return call(emu, "POST", "/auth/passkey/sign-in", json={
        "authentication_response": authenticator.get(started["options_json"], origin), "code": started["code"]})


def test_register_then_sign_in(pemu):
    user = sign_up(pemu)
    started = initiate_registration(pemu, user["access_token"])
    options = started["options_json"]
    assert options["rp"]["id"] == "THIS_VALUE_WILL_BE_REPLACED.example.com"  # the SDK puts the page's host here
    assert base64.urlsafe_b64decode(options["user"]["id"] + "==").decode() == user["user_id"]
    assert options["user"]["name"] == user["email"]
    assert [p["alg"] for p in options["pubKeyCredParams"]] == [-8, -7, -257]
    assert options["authenticatorSelection"] == {"residentKey": "required", "userVerification": "preferred",
                                                 "requireResidentKey": True}
    assert options["challenge"] != "TU9DSw" and len(started["code"]) == 45

    key = SoftAuthenticator()
    assert ok(register(pemu, user["access_token"], key)) == {"user_handle": key.id}
    assert ok(call(pemu, "GET", "/users/me", token=user["access_token"]))["passkey_auth_enabled"] is True

    body = ok(passkey_sign_in(pemu, key))
    assert set(body) == {"access_token", "refresh_token", "user_id", "is_new_user"}
    assert body["user_id"] == user["user_id"] and body["is_new_user"] is False
    assert ok(call(pemu, "GET", "/users/me", token=body["access_token"]))["id"] == user["user_id"]
    ok(passkey_sign_in(pemu, key))  # again, with the next counter value

    options = initiate_sign_in(pemu)["options_json"]
    assert options["allowCredentials"] == [] and options["userVerification"] == "preferred"


def test_a_signature_only_works_for_its_challenge_and_counter(pemu):
    user = sign_up(pemu)
    key = SoftAuthenticator()
    ok(register(pemu, user["access_token"], key))
    first = initiate_sign_in(pemu)
    assertion = key.get(first["options_json"], APP)
    ok(call(pemu, "POST", "/auth/passkey/sign-in", json={"authentication_response": assertion, "code": first["code"]}))
    # the same assertion under a new challenge
    replay = initiate_sign_in(pemu)
    known_error(call(pemu, "POST", "/auth/passkey/sign-in",
                     json={"authentication_response": assertion, "code": replay["code"]}),
                400, "PASSKEY_AUTHENTICATION_FAILED")
    # the code was used up by the failed attempt
    known_error(call(pemu, "POST", "/auth/passkey/sign-in",
                     json={"authentication_response": assertion, "code": replay["code"]}),
                409, "VERIFICATION_CODE_ALREADY_USED")
    # a cloned authenticator whose counter went backwards
    key.counter = 0
    known_error(passkey_sign_in(pemu, key), 400, "PASSKEY_AUTHENTICATION_FAILED")
    # a different key claiming the registered credential id
    impostor = SoftAuthenticator()
    impostor.credential_id = key.credential_id
    impostor.counter = 100
    known_error(passkey_sign_in(pemu, impostor), 400, "PASSKEY_AUTHENTICATION_FAILED")


def test_relying_party_origins(pemu):
    user = sign_up(pemu)
    body = known_error(register(pemu, user["access_token"], SoftAuthenticator(), "https://evil.example.org"),
                       400, "PASSKEY_REGISTRATION_FAILED")
    assert "origin is not allowed" in body["error"]
    key = SoftAuthenticator()
    ok(register(pemu, user["access_token"], key, "https://app.example.com"))  # a trusted wildcard domain
    assert ok(passkey_sign_in(pemu, key, "https://app.example.com"))["user_id"] == user["user_id"]
    body = known_error(passkey_sign_in(pemu, key, "https://app.evil.org"), 400, "PASSKEY_AUTHENTICATION_FAILED")
    assert "origin is not allowed" in body["error"]
    # authenticator data for one RP id sent from another trusted origin
    started = initiate_sign_in(pemu)
    forged = key.get(started["options_json"], APP, rp_id="app.example.com")
    known_error(call(pemu, "POST", "/auth/passkey/sign-in",
                     json={"authentication_response": forged, "code": started["code"]}),
                400, "PASSKEY_AUTHENTICATION_FAILED")


def test_unknown_credential_and_bad_input(pemu):
    user = sign_up(pemu)
    body = known_error(passkey_sign_in(pemu, SoftAuthenticator()), 400, "PASSKEY_AUTHENTICATION_FAILED")
    assert body["error"] == "Passkey not found"
    token = user["access_token"]
    for credential in (5, None, {}, {"id": "x", "response": {"clientDataJSON": "!!"}}, "text"):
        started = initiate_registration(pemu, token)
        known_error(call(pemu, "POST", "/auth/passkey/register", token=token,
                         json={"credential": credential, "code": started["code"]}),
                    400, "PASSKEY_REGISTRATION_FAILED")
    started = initiate_sign_in(pemu)
    known_error(call(pemu, "POST", "/auth/passkey/sign-in", json={"authentication_response": [], "code": started["code"]}),
                400, "PASSKEY_AUTHENTICATION_FAILED")
    schema_error(call(pemu, "POST", "/auth/passkey/sign-in", json={"code": "short"}),
                 "POST", "/api/v1/auth/passkey/sign-in")
    known_error(call(pemu, "POST", "/auth/passkey/sign-in",
                     json={"authentication_response": {}, "code": "a" * 45}), 404, "VERIFICATION_CODE_NOT_FOUND")
    # registration needs a signed-in user (the platform's schema says so)
    assert schema_error(call(pemu, "POST", "/auth/passkey/initiate-passkey-registration", json={}), "POST",
                        "/api/v1/auth/passkey/initiate-passkey-registration") == ["auth.user must be defined"]


def test_mfa_after_passkey_and_switching_passkeys_off(pemu):
    user = sign_up(pemu)
    key = SoftAuthenticator()
    ok(register(pemu, user["access_token"], key))
    secret = base64.b64encode(b"0123456789abcdefghij").decode()
    ok(call(pemu, "PATCH", f"/users/{user['user_id']}", access="server", json={"totp_secret_base64": secret}))
    known_error(passkey_sign_in(pemu, key), 400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED", {"attempt_code"})
    ok(call(pemu, "PATCH", f"/users/{user['user_id']}", access="server",
            json={"totp_secret_base64": None, "passkey_auth_enabled": False}))
    known_error(passkey_sign_in(pemu, key), 400, "PASSKEY_AUTHENTICATION_FAILED")


def test_passkeys_disabled_and_the_fixed_development_challenge():
    emu = start_emulator(config=write_config({"auth": {"password": {"allowSignIn": True}}}))
    try:
        user = sign_up(emu)
        known_error(call(emu, "POST", "/auth/passkey/initiate-passkey-registration", token=user["access_token"],
                         json={}), 400, "PASSKEY_AUTHENTICATION_NOT_ENABLED")
        known_error(call(emu, "POST", "/auth/passkey/initiate-passkey-authentication", json={}),
                    400, "PASSKEY_AUTHENTICATION_NOT_ENABLED")
    finally:
        emu.stop()
    emu = start_emulator(config=write_config(CONFIG))  # default: the platform's development challenge "MOCK"
    try:
        user = sign_up(emu)
        assert initiate_registration(emu, user["access_token"])["options_json"]["challenge"] == "TU9DSw"
        key = SoftAuthenticator()
        ok(register(emu, user["access_token"], key))
        assert ok(passkey_sign_in(emu, key))["user_id"] == user["user_id"]
    finally:
        emu.stop()
