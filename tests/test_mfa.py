"""TOTP multi-factor authentication: enrolment through the user's TOTP secret, the MULTI_FACTOR_AUTHENTICATION_REQUIRED
answer of every first factor (password sign-in and sign-up, OTP, OAuth), /auth/mfa/sign-in, wrong, reused and
expired codes.

Reference: apps/backend/src/app/api/latest/auth/mfa/sign-in/verification-code-handler.tsx (attempt codes live
5 minutes; TOTP per RFC 6238, SHA-1, 6 digits, 30 s, current step), e2e auth/mfa/sign-in.test.ts and the MFA
cases of auth/password, auth/otp and auth/oauth/token tests.
"""
from __future__ import annotations

import base64
import os
import re
import time

import pytest
from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor.totp import TOTP

from support import start_emulator
from wire import ALLOW_ANON, anon_sign_up, call, claims, known_error, me, ok, raw, schema_error, sign_up

MFA = "/api/v1/auth/mfa/sign-in"
CALLBACK = "http://localhost:3000/handler/callback"


def totp_now(secret: bytes, at: float | None = None) -> str:
    """What an authenticator app shows for `secret` (any key length, as the platform accepts)."""
    return TOTP(secret, 6, SHA1(), 30, enforce_key_length=False).generate(time.time() if at is None else at).decode()


def enrol(emu, access_token: str, secret: bytes | None = None) -> bytes:
    secret = os.urandom(20) if secret is None else secret
    user = ok(call(emu, "PATCH", "/users/me", token=access_token,
                   json={"totp_secret_base64": base64.b64encode(secret).decode()}))
    assert user["requires_totp_mfa"] is True
    return secret


def password_attempt(emu, account) -> str:
    r = call(emu, "POST", "/auth/password/sign-in", json={"email": account["email"], "password": account["password"]})
    return known_error(r, 400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED", {"attempt_code"})["details"]["attempt_code"]


def mfa_sign_in(emu, attempt_code: str, totp: str, **body):
    return call(emu, "POST", "/auth/mfa/sign-in", json={"type": "totp", "code": attempt_code, "totp": totp, **body})


def test_password_sign_in_then_totp(emu):
    account = sign_up(emu)
    secret = enrol(emu, account["access_token"])
    assert claims(ok(call(emu, "POST", "/auth/password/sign-up", json={
        "email": f"x{account['email']}", "password": account["password"]}))["access_token"])["requires_totp_mfa"] is False
    attempt = password_attempt(emu, account)
    assert re.fullmatch(r"[0-9a-z]{45}", attempt)
    tokens = ok(mfa_sign_in(emu, attempt, totp_now(secret)))
    assert set(tokens) == {"access_token", "refresh_token", "user_id", "is_new_user"}
    assert tokens["user_id"] == account["user_id"] and tokens["is_new_user"] is False
    assert claims(tokens["access_token"])["requires_totp_mfa"] is True
    assert ok(me(emu, tokens["access_token"]))["id"] == account["user_id"]


def test_wrong_code_keeps_the_attempt_and_a_used_attempt_is_spent(emu):
    account = sign_up(emu)
    secret = enrol(emu, account["access_token"])
    attempt = password_attempt(emu, account)
    known_error(mfa_sign_in(emu, attempt, "never-valid-totp"), 400, "INVALID_TOTP_CODE")
    stale = totp_now(secret, time.time() - 120)  # an old code from the same authenticator
    if stale != totp_now(secret):
        known_error(mfa_sign_in(emu, attempt, stale), 400, "INVALID_TOTP_CODE")
    ok(mfa_sign_in(emu, attempt, totp_now(secret)))
    known_error(mfa_sign_in(emu, attempt, totp_now(secret)), 409, "VERIFICATION_CODE_ALREADY_USED")


def test_unknown_attempt_code(emu):
    known_error(mfa_sign_in(emu, "invalid-attempt-code-123123123123123123123123", "123456"), 404,
                "VERIFICATION_CODE_NOT_FOUND")


def test_request_schema(emu):
    r = call(emu, "POST", "/auth/mfa/sign-in", json={"type": "sms", "code": "x" * 45})
    assert schema_error(r, "POST", MFA) == ["body.type must be one of the following values: totp",
                                            "body.totp must be defined"]
    r = call(emu, "POST", "/auth/mfa/sign-in", content=b"not json", headers={"content-type": "application/json"})
    known_error(r, 400, "BODY_PARSING_ERROR")


def test_short_secrets_work_as_on_the_platform(emu):
    account = sign_up(emu)
    secret = enrol(emu, account["access_token"], b"example value")  # 104 bits
    ok(mfa_sign_in(emu, password_attempt(emu, account), totp_now(secret)))


def test_removing_the_secret_turns_mfa_off(emu):
    account = sign_up(emu)
    enrol(emu, account["access_token"])
    user = ok(call(emu, "PATCH", f"/users/{account['user_id']}", access="server", json={"totp_secret_base64": None}))
    assert user["requires_totp_mfa"] is False
    ok(call(emu, "POST", "/auth/password/sign-in", json={"email": account["email"], "password": account["password"]}))


def test_secret_must_be_base64(emu):
    account = sign_up(emu)
    r = call(emu, "PATCH", "/users/me", token=account["access_token"], json={"totp_secret_base64": "not base64!"})
    assert schema_error(r, "PATCH", "/api/v1/users/me") == ["body.totp_secret_base64 is not valid base64"]


def test_upgrading_an_anonymous_user_with_a_secret_asks_for_mfa(emu):
    anon = anon_sign_up(emu)
    secret = os.urandom(20)
    ok(call(emu, "PATCH", f"/users/{anon['user_id']}", access="server",
            json={"totp_secret_base64": base64.b64encode(secret).decode()}))
    r = call(emu, "POST", "/auth/password/sign-up", token=anon["access_token"], headers=ALLOW_ANON,
             json={"email": f"anon-{os.urandom(4).hex()}@example.com", "password": "correct-horse-battery"})
    attempt = known_error(r, 400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED", {"attempt_code"})["details"]["attempt_code"]
    tokens = ok(mfa_sign_in(emu, attempt, totp_now(secret)))
    assert tokens["user_id"] == anon["user_id"] and tokens["is_new_user"] is True


def test_otp_sign_in_asks_for_mfa(emu):
    email = f"mfa-otp-{os.urandom(4).hex()}@example.com"
    account = sign_up(emu, email)
    ok(call(emu, "PATCH", f"/users/{account['user_id']}", access="server", json={"primary_email_verified": True}))
    secret = enrol(emu, account["access_token"])
    ok(call(emu, "POST", "/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK}))
    message = ok(raw(emu, "GET", "/api/v1/emulator/inbox/wait", params={"to": email, "since": 0, "timeout": 10}))
    code = re.search(r"[?&]code=([0-9a-z]{45})", message["text"]).group(1)
    r = call(emu, "POST", "/auth/otp/sign-in", json={"code": code})
    attempt = known_error(r, 400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED", {"attempt_code"})["details"]["attempt_code"]
    tokens = ok(mfa_sign_in(emu, attempt, totp_now(secret)))
    assert tokens["user_id"] == account["user_id"] and tokens["is_new_user"] is False


# ---- attempt codes expire on the emulator clock (own emulator: the clock only moves forward) -----------------------

@pytest.fixture(scope="module")
def clock_emu():
    e = start_emulator()
    yield e
    e.stop()


def test_attempt_code_expires_after_five_minutes(clock_emu):
    account = sign_up(clock_emu)
    secret = enrol(clock_emu, account["access_token"])
    attempt = password_attempt(clock_emu, account)
    ok(raw(clock_emu, "POST", "/api/v1/emulator/clock/advance", json={"seconds": 301}))
    # The TOTP itself is checked against wall-clock time (the authenticator's), the attempt against the emulator's
    known_error(mfa_sign_in(clock_emu, attempt, totp_now(secret)), 400, "VERIFICATION_CODE_EXPIRED")
