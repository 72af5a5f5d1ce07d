"""Password and anonymous auth over HTTP: sign-up, sign-in, the order of sign-up checks, password length rules,
duplicate emails, /auth/password/update and /auth/password/set, anonymous sign-up and its upgrade.

Reference: apps/backend/src/app/api/latest/auth/password/{sign-up,sign-in,update,set}/route.tsx,
packages/stack-shared/src/helpers/password.ts, schema-fields.ts (passwordSchema = string max 70), e2e
auth/password/*.test.ts and auth/anonymous/*.test.ts snapshots.
"""
from __future__ import annotations

import pytest

from support import start_emulator
from wire import (ALLOW_ANON, CLIENT_USER_KEYS, PASSWORD, anon_sign_up, call, claims, create_session, create_user,
                  fresh_email, known_error, me, ok, refresh, schema_error, sign_in, sign_up, text_error, write_config)


@pytest.fixture(scope="module")
def closed():
    """Sign-up disabled, password sign-in enabled."""
    e = start_emulator(config=write_config({"auth": {"allowSignUp": False, "password": {"allowSignIn": True}}}))
    yield e
    e.stop()


@pytest.fixture(scope="module")
def nopassword():
    """Password authentication disabled (sign-up allowed)."""
    e = start_emulator(config=write_config({"auth": {"allowSignUp": True, "password": {"allowSignIn": False},
                                                     "otp": {"allowSignIn": True}}}))
    yield e
    e.stop()


def signup_raw(emu, email, password, **kw):
    return call(emu, "POST", "/auth/password/sign-up", json={"email": email, "password": password}, **kw)


def signin_raw(emu, email, password, **kw):
    return call(emu, "POST", "/auth/password/sign-in", json={"email": email, "password": password}, **kw)


# ---- sign-up -----------------------------------------------------------------------------------------------------

def test_sign_up(emu):
    email = fresh_email()
    r = signup_raw(emu, email, PASSWORD)
    body = ok(r)
    assert set(body) == {"access_token", "refresh_token", "user_id"}
    u = ok(me(emu, body["access_token"]))
    assert set(u) == CLIENT_USER_KEYS
    assert u["id"] == body["user_id"]
    assert u["primary_email"] == email and u["primary_email_verified"] is False
    assert u["has_password"] is True and u["auth_with_email"] is True
    assert u["is_anonymous"] is False
    server_view = ok(call(emu, "GET", f"/users/{body['user_id']}", access="server"))
    assert server_view["primary_email_auth_enabled"] is True


def test_sign_up_with_hexclave_headers(emu):
    body = ok(signup_raw(emu, fresh_email(), PASSWORD, prefix="x-hexclave"))
    assert ok(me(emu, body["access_token"], prefix="x-hexclave"))["id"] == body["user_id"]


def test_sign_up_normalises_email(emu):
    email = fresh_email()
    body = ok(signup_raw(emu, email.upper(), PASSWORD))
    assert ok(me(emu, body["access_token"]))["primary_email"] == email
    assert sign_in(emu, email)["user_id"] == body["user_id"]
    assert sign_in(emu, email.upper())["user_id"] == body["user_id"]


def test_sign_up_duplicate_email(emu):
    t = sign_up(emu)
    r = signup_raw(emu, t["email"], "another-password")
    known_error(r, 409, "USER_EMAIL_ALREADY_EXISTS", {"email": t["email"], "would_work_if_email_was_verified": False})


def test_sign_up_duplicate_email_differently_cased(emu):
    t = sign_up(emu)
    r = signup_raw(emu, t["email"].upper(), "another-password")
    known_error(r, 409, "USER_EMAIL_ALREADY_EXISTS", {"email", "would_work_if_email_was_verified"})


def test_sign_up_with_email_used_but_not_for_auth(emu):
    email = fresh_email()
    other = create_user(emu, primary_email=email)  # not an auth channel
    body = ok(signup_raw(emu, email, PASSWORD))
    assert body["user_id"] != other["id"]


@pytest.mark.parametrize("password", ["", "short", "1234567"])
def test_sign_up_password_too_short(emu, password):
    r = signup_raw(emu, fresh_email(), password)
    known_error(r, 400, "PASSWORD_TOO_SHORT", {"min_length": 8})


def test_sign_up_password_length_bounds(emu):
    ok(signup_raw(emu, fresh_email(), "8-chars!"))
    ok(signup_raw(emu, fresh_email(), "p" * 70))


def test_sign_up_password_too_long(emu):
    # passwordSchema is yup string().max(70), so an over-long password fails validation before getPasswordError
    # could raise PASSWORD_TOO_LONG (details {maxLength}); the reference answers SCHEMA_ERROR.
    r = signup_raw(emu, fresh_email(), "p" * 71)
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-up") == [
        "body.password must be at most 70 characters"]


def test_sign_up_requires_email_and_password(emu):
    r = call(emu, "POST", "/auth/password/sign-up", json={"email": fresh_email()})
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-up") == ["body.password must be defined"]


def test_sign_up_rejects_unknown_fields(emu):
    r = call(emu, "POST", "/auth/password/sign-up", json={"email": fresh_email(), "password": PASSWORD, "name": "x"})
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-up") == ["body contains unknown properties: name"]


def test_sign_up_needs_client_auth(emu):
    known_error(call(emu, "POST", "/auth/password/sign-up", access=None,
                     json={"email": fresh_email(), "password": PASSWORD}), 400, "ACCESS_TYPE_REQUIRED")


def test_sign_up_disabled(closed):
    known_error(signup_raw(closed, fresh_email(), PASSWORD), 400, "SIGN_UP_NOT_ENABLED")


def test_sign_up_disabled_is_checked_before_password_strength(closed):
    known_error(signup_raw(closed, fresh_email(), "short"), 400, "SIGN_UP_NOT_ENABLED")


def test_sign_in_still_works_when_sign_up_is_disabled(closed):
    email = fresh_email()
    u = create_user(closed, primary_email=email, primary_email_auth_enabled=True, password=PASSWORD)
    assert sign_in(closed, email)["user_id"] == u["id"]


def test_password_auth_disabled(nopassword):
    known_error(signup_raw(nopassword, fresh_email(), PASSWORD), 400, "PASSWORD_AUTHENTICATION_NOT_ENABLED")
    known_error(signin_raw(nopassword, fresh_email(), PASSWORD), 400, "PASSWORD_AUTHENTICATION_NOT_ENABLED")


def test_password_auth_disabled_is_checked_first(nopassword):
    known_error(signup_raw(nopassword, fresh_email(), "short"), 400, "PASSWORD_AUTHENTICATION_NOT_ENABLED")


def test_password_auth_disabled_blocks_server_passwords(nopassword):
    r = call(nopassword, "POST", "/users", access="server",
             json={"primary_email": fresh_email(), "primary_email_auth_enabled": True, "password": PASSWORD})
    text_error(r, 400, "Password auth not enabled in the project")


def test_password_set_when_password_auth_disabled(nopassword):
    u = create_user(nopassword, primary_email=fresh_email(), primary_email_auth_enabled=True)
    tokens = create_session(nopassword, u["id"])
    r = call(nopassword, "POST", "/auth/password/set", token=tokens["access_token"], json={"password": PASSWORD})
    known_error(r, 400, "PASSWORD_AUTHENTICATION_NOT_ENABLED")


# ---- sign-in -----------------------------------------------------------------------------------------------------

def test_sign_in(emu):
    t = sign_up(emu)
    r = signin_raw(emu, t["email"], t["password"])
    body = ok(r)
    assert set(body) == {"access_token", "refresh_token", "user_id"}
    assert body["user_id"] == t["user_id"]
    assert body["refresh_token"] != t["refresh_token"]
    assert ok(me(emu, body["access_token"]))["id"] == t["user_id"]


def test_sign_in_wrong_password(emu):
    t = sign_up(emu)
    known_error(signin_raw(emu, t["email"], "wrong-password"), 400, "EMAIL_PASSWORD_MISMATCH")


def test_sign_in_unknown_email(emu):
    known_error(signin_raw(emu, fresh_email(), "some-password"), 400, "EMAIL_PASSWORD_MISMATCH")


def test_sign_in_user_without_password(emu):
    email = fresh_email()
    create_user(emu, primary_email=email, primary_email_auth_enabled=True)
    known_error(signin_raw(emu, email, "some-password"), 400, "EMAIL_PASSWORD_MISMATCH")


def test_sign_in_email_not_used_for_auth(emu):
    email = fresh_email()
    create_user(emu, primary_email=email, primary_email_auth_enabled=False, password=PASSWORD)
    known_error(signin_raw(emu, email, PASSWORD), 400, "EMAIL_PASSWORD_MISMATCH")


def test_sign_in_is_per_project(emu):
    t = sign_up(emu)
    known_error(signin_raw(emu, t["email"], t["password"], project_id="internal"), 400, "EMAIL_PASSWORD_MISMATCH")


def test_sign_in_empty_email(emu):
    r = signin_raw(emu, "", "some-password")
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-in") == ["body.email must not be empty"]


def test_sign_in_with_totp_requires_mfa(emu):
    t = sign_up(emu)
    ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"totp_secret_base64": "ZXhhbXBsZSB2YWx1ZQ=="}))
    r = signin_raw(emu, t["email"], t["password"])
    known_error(r, 400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED", {"attempt_code"})


# ---- /auth/password/update ---------------------------------------------------------------------------------------

def update(emu, token, old, new, refresh_token=None, access="client"):
    headers = {"x-stack-refresh-token": refresh_token} if refresh_token else {}
    return call(emu, "POST", "/auth/password/update", access=access, token=token, headers=headers,
                json={"old_password": old, "new_password": new})


def test_password_update(emu):
    t = sign_up(emu)
    assert ok(update(emu, t["access_token"], t["password"], "new-password", t["refresh_token"])) == {"success": True}
    known_error(signin_raw(emu, t["email"], t["password"]), 400, "EMAIL_PASSWORD_MISMATCH")
    assert sign_in(emu, t["email"], "new-password")["user_id"] == t["user_id"]


def test_password_update_keeps_only_the_sending_session(emu):
    t = sign_up(emu)
    other = sign_in(emu, t["email"])
    ok(update(emu, t["access_token"], t["password"], "new-password", t["refresh_token"]))
    ok(refresh(emu, t["refresh_token"]))
    known_error(refresh(emu, other["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_password_update_without_refresh_token_signs_out_everywhere(emu):
    t = sign_up(emu)
    ok(update(emu, t["access_token"], t["password"], "new-password"))
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_password_update_wrong_old_password(emu):
    t = sign_up(emu)
    known_error(update(emu, t["access_token"], "wrong-password", "new-password"), 400,
                "PASSWORD_CONFIRMATION_MISMATCH")
    sign_in(emu, t["email"], t["password"])


@pytest.mark.parametrize("access", ["client", "server"])
def test_password_update_weak_new_password(emu, access):
    t = sign_up(emu)
    known_error(update(emu, t["access_token"], t["password"], "short", access=access), 400, "PASSWORD_TOO_SHORT",
                {"min_length": 8})


def test_password_update_without_old_password(emu):
    t = sign_up(emu)
    r = call(emu, "POST", "/auth/password/update", token=t["access_token"], json={"new_password": "new-password"})
    assert schema_error(r, "POST", "/api/v1/auth/password/update") == ["body.old_password must be defined"]


def test_password_update_without_user(emu):
    r = call(emu, "POST", "/auth/password/update",
             json={"old_password": "something-123", "new_password": "other-thing-123"})
    assert schema_error(r, "POST", "/api/v1/auth/password/update") == ["auth.user must be defined"]


def test_password_update_for_user_without_password(emu):
    u = create_user(emu, primary_email=fresh_email(), primary_email_auth_enabled=True)
    tokens = create_session(emu, u["id"])
    known_error(update(emu, tokens["access_token"], "wrong-password", "new-password"), 400,
                "USER_DOES_NOT_HAVE_PASSWORD")


# ---- /auth/password/set ------------------------------------------------------------------------------------------

def test_password_set(emu):
    email = fresh_email()
    u = create_user(emu, primary_email=email, primary_email_auth_enabled=True)
    tokens = create_session(emu, u["id"])
    r = call(emu, "POST", "/auth/password/set", token=tokens["access_token"], json={"password": "new-password"})
    assert ok(r) == {"success": True}
    assert ok(me(emu, tokens["access_token"]))["has_password"] is True
    assert sign_in(emu, email, "new-password")["user_id"] == u["id"]


def test_password_set_when_already_set(emu):
    t = sign_up(emu)
    r = call(emu, "POST", "/auth/password/set", token=t["access_token"], json={"password": "another-password"})
    text_error(r, 400, "User already has a password set.")


def test_password_set_weak(emu):
    u = create_user(emu, primary_email=fresh_email(), primary_email_auth_enabled=True)
    tokens = create_session(emu, u["id"])
    r = call(emu, "POST", "/auth/password/set", token=tokens["access_token"], json={"password": "short"})
    known_error(r, 400, "PASSWORD_TOO_SHORT", {"min_length": 8})


def test_password_set_without_user(emu):
    r = call(emu, "POST", "/auth/password/set", json={"password": "new-password"})
    assert schema_error(r, "POST", "/api/v1/auth/password/set") == ["auth.user must be defined"]


# ---- anonymous users ---------------------------------------------------------------------------------------------

def test_anonymous_sign_up(emu):
    r = call(emu, "POST", "/auth/anonymous/sign-up")
    body = ok(r)
    assert set(body) == {"access_token", "refresh_token", "user_id"}
    u = ok(me(emu, body["access_token"], headers=ALLOW_ANON))
    assert set(u) == CLIENT_USER_KEYS
    assert u["id"] == body["user_id"]
    assert u["is_anonymous"] is True and u["is_restricted"] is True
    assert u["restricted_reason"] == {"type": "anonymous"}
    assert u["primary_email"] is None and u["has_password"] is False and u["auth_with_email"] is False
    assert u["display_name"] is None and u["selected_team"] is None


def test_anonymous_sign_up_with_empty_json_body(emu):
    assert "access_token" in ok(call(emu, "POST", "/auth/anonymous/sign-up", json={}))


def test_anonymous_sign_up_works_when_sign_up_is_disabled(closed):
    body = anon_sign_up(closed)
    assert claims(body["access_token"])["is_anonymous"] is True


def test_anonymous_refresh_keeps_anonymous_audience(emu):
    a = anon_sign_up(emu)
    fresh = ok(refresh(emu, a["refresh_token"]))["access_token"]
    assert claims(fresh)["aud"] == f"{emu.project_id}:anon"


def test_upgrade_anonymous_user_by_signing_up(emu):
    a = anon_sign_up(emu)
    email = fresh_email()
    up = ok(signup_raw(emu, email, PASSWORD, token=a["access_token"], headers=ALLOW_ANON))
    assert up["user_id"] == a["user_id"]
    c = claims(up["access_token"])
    assert c["is_anonymous"] is False and c["aud"] == emu.project_id and c["email"] == email
    u = ok(me(emu, up["access_token"]))
    assert u["id"] == a["user_id"] and u["is_anonymous"] is False and u["is_restricted"] is False
    assert u["primary_email"] == email and u["has_password"] is True
    # the old session keeps working and now yields non-anonymous tokens
    old = ok(refresh(emu, a["refresh_token"]))["access_token"]
    assert claims(old)["is_anonymous"] is False and claims(old)["sub"] == a["user_id"]
    assert sign_in(emu, email)["user_id"] == a["user_id"]


def test_upgrade_preserves_metadata(emu):
    a = anon_sign_up(emu)
    ok(call(emu, "PATCH", "/users/me", token=a["access_token"], headers=ALLOW_ANON,
            json={"display_name": "Anon Name", "client_metadata": {"cart": [1, 2]}}))
    up = ok(signup_raw(emu, fresh_email(), PASSWORD, token=a["access_token"], headers=ALLOW_ANON))
    u = ok(me(emu, up["access_token"]))
    assert u["display_name"] == "Anon Name" and u["client_metadata"] == {"cart": [1, 2]}


def test_anonymous_token_without_allow_header_cannot_sign_up(emu):
    a = anon_sign_up(emu)
    known_error(signup_raw(emu, fresh_email(), PASSWORD, token=a["access_token"]), 401,
                "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED")


def test_upgrade_to_existing_email_fails(emu):
    t = sign_up(emu)
    a = anon_sign_up(emu)
    r = signup_raw(emu, t["email"], PASSWORD, token=a["access_token"], headers=ALLOW_ANON)
    known_error(r, 409, "USER_EMAIL_ALREADY_EXISTS", {"email": t["email"], "would_work_if_email_was_verified": False})
    assert ok(me(emu, a["access_token"], headers=ALLOW_ANON))["is_anonymous"] is True


def test_upgrade_when_sign_up_is_disabled(closed):
    a = anon_sign_up(closed)
    r = signup_raw(closed, fresh_email(), PASSWORD, token=a["access_token"], headers=ALLOW_ANON)
    known_error(r, 400, "SIGN_UP_NOT_ENABLED")


def test_signed_in_user_signing_up_creates_another_user(emu):
    t = sign_up(emu)
    other = ok(signup_raw(emu, fresh_email(), PASSWORD, token=t["access_token"]))
    assert other["user_id"] != t["user_id"]
    assert ok(me(emu, t["access_token"]))["primary_email"] == t["email"]


def test_sign_in_while_anonymous_does_not_merge(emu):
    t = sign_up(emu)
    a = anon_sign_up(emu)
    s = ok(signin_raw(emu, t["email"], t["password"], token=a["access_token"], headers=ALLOW_ANON))
    assert s["user_id"] == t["user_id"]
    anon_user = ok(call(emu, "GET", f"/users/{a['user_id']}", access="server"))
    assert anon_user["is_anonymous"] is True
