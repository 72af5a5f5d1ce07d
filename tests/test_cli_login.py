"""CLI login over HTTP: /auth/cli, /auth/cli/poll, /auth/cli/complete (check, claim-anon-session, complete), the
anonymous CLI session, and expiry on the emulator clock.

Reference: apps/backend/src/app/api/latest/auth/cli/{route,poll/route,complete/route}.tsx and the e2e tests
auth/cli/*.test.ts (plain-text 400s, INVALID_POLLING_CODE, 201 on the one successful poll).
"""
from __future__ import annotations

import pytest

from support import start_emulator
from wire import (ALLOW_ANON, REFRESH_TOKEN_RE, anon_sign_up, call, known_error, me, ok, raw, schema_error, sign_up,
                  text_error)

CLI = "/api/v1/auth/cli"


def start(emu, access="server", **body):
    return ok(call(emu, "POST", "/auth/cli", access=access, json=body))


def poll(emu, attempt, access="server"):
    return call(emu, "POST", "/auth/cli/poll", access=access, json={"polling_code": attempt["polling_code"]})


def complete(emu, attempt, access="server", **body):
    return call(emu, "POST", "/auth/cli/complete", access=access, json={"login_code": attempt["login_code"], **body})


def clock_millis(emu) -> int:
    return ok(raw(emu, "GET", "/api/v1/emulator/clock"))["now_millis"]


def iso_millis(text: str) -> int:
    from datetime import datetime
    assert text.endswith("Z") and len(text) == 24, text
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


@pytest.mark.parametrize("access", ["client", "server"])
def test_full_cycle(emu, access):
    attempt = start(emu, access)
    assert set(attempt) == {"polling_code", "login_code", "expires_at"}
    assert REFRESH_TOKEN_RE.match(attempt["polling_code"]) and REFRESH_TOKEN_RE.match(attempt["login_code"])
    assert attempt["polling_code"] != attempt["login_code"]
    assert ok(poll(emu, attempt, access)) == {"status": "waiting"}
    browser = sign_up(emu)
    assert ok(complete(emu, attempt, access, mode="check")) == {"cli_session_state": "none"}
    assert ok(complete(emu, attempt, access, refresh_token=browser["refresh_token"])) == {"success": True}
    assert ok(poll(emu, attempt, access), 201) == {"status": "success", "refresh_token": browser["refresh_token"]}
    assert ok(poll(emu, attempt, access)) == {"status": "used"}


def test_body_is_optional_and_default_lifetime_is_two_hours(emu):
    r = call(emu, "POST", "/auth/cli", access="client")
    attempt = ok(r)
    assert abs(iso_millis(attempt["expires_at"]) - clock_millis(emu) - 2 * 3600 * 1000) < 10_000


def test_custom_lifetime_and_its_limit(emu):
    attempt = start(emu, expires_in_millis=30 * 60 * 1000)
    assert abs(iso_millis(attempt["expires_at"]) - clock_millis(emu) - 30 * 60 * 1000) < 10_000
    r = call(emu, "POST", "/auth/cli", access="client", json={"expires_in_millis": 24 * 3600 * 1000 + 1})
    assert schema_error(r, "POST", CLI) == ["body.expires_in_millis must be less than or equal to 86400000"]
    r = call(emu, "POST", "/auth/cli", access="client", json={"expires_in_millis": "soon"})
    assert schema_error(r, "POST", CLI)[0].startswith("body.expires_in_millis must be a `number` type")


def test_needs_project_authentication(emu):
    known_error(raw(emu, "POST", CLI, json={}), 400, "ACCESS_TYPE_REQUIRED")


def test_unknown_polling_code(emu):
    r = call(emu, "POST", "/auth/cli/poll", json={"polling_code": "invalid-code"})
    known_error(r, 400, "INVALID_POLLING_CODE")
    r = call(emu, "POST", "/auth/cli/poll", json={})
    assert schema_error(r, "POST", CLI + "/poll") == ["body.polling_code must be defined"]


def test_lone_surrogates_are_no_server_error(emu):
    # JSON.stringify can send a cut surrogate pair as a \u escape; it becomes U+FFFD, as on the platform
    r = call(emu, "POST", "/auth/cli/poll", content=b'{"polling_code": "\\ud800"}',
             headers={"content-type": "application/json"})
    known_error(r, 400, "INVALID_POLLING_CODE")
    text_error(call(emu, "POST", "/auth/cli", content=b'{"anon_refresh_token": "x\\udc00"}',
                    headers={"content-type": "application/json"}), 400, "Invalid anon refresh token")


def test_codes_belong_to_their_project(emu):
    attempt = start(emu)
    known_error(call(emu, "POST", "/auth/cli/poll", project_id="internal", access="server",
                     json={"polling_code": attempt["polling_code"]}), 400, "INVALID_POLLING_CODE")


def test_complete_errors(emu):
    attempt = start(emu)
    text_error(complete(emu, {"login_code": "invalid-login-code"}, refresh_token="x"), 400,
               "Invalid login code or the code has expired")
    text_error(complete(emu, attempt), 400, "refresh_token is required when mode is 'complete'")
    text_error(complete(emu, attempt, refresh_token="invalid-refresh-token"), 400, "Invalid refresh token")
    text_error(complete(emu, attempt, mode="claim-anon-session"), 400, "No anonymous session associated with this code")
    r = complete(emu, attempt, mode="merge")
    assert schema_error(r, "POST", CLI + "/complete") == [
        "body.mode must be one of the following values: check, claim-anon-session, complete"]
    # None of those used the attempt up
    browser = sign_up(emu)
    ok(complete(emu, attempt, refresh_token=browser["refresh_token"]))


def test_cannot_complete_twice(emu):
    attempt = start(emu)
    first, second = sign_up(emu), sign_up(emu)
    ok(complete(emu, attempt, refresh_token=first["refresh_token"]))
    text_error(complete(emu, attempt, refresh_token=second["refresh_token"]), 400,
               "Invalid login code or the code has expired")
    text_error(complete(emu, attempt, mode="check"), 400, "Invalid login code or the code has expired")
    assert ok(poll(emu, attempt), 201)["refresh_token"] == first["refresh_token"]


def test_refresh_token_of_another_project(emu):
    attempt = start(emu)
    other = ok(call(emu, "POST", "/auth/password/sign-up", project_id="internal",
                    json={"email": "cli-other-project@example.com", "password": "correct-horse-battery"}))
    text_error(complete(emu, attempt, refresh_token=other["refresh_token"]), 400,
               "Refresh token does not belong to this project")


def test_anonymous_cli_session_is_claimed_once(emu):
    anon = anon_sign_up(emu)
    attempt = start(emu, anon_refresh_token=anon["refresh_token"])
    assert ok(complete(emu, attempt, mode="check")) == {"cli_session_state": "anonymous"}
    claimed = ok(complete(emu, attempt, mode="claim-anon-session"))
    assert set(claimed) == {"access_token", "refresh_token"}
    assert claimed["refresh_token"] == anon["refresh_token"]
    assert ok(me(emu, claimed["access_token"], headers=ALLOW_ANON))["id"] == anon["user_id"]
    text_error(complete(emu, attempt, mode="claim-anon-session"), 400, "No anonymous session associated with this code")
    assert ok(complete(emu, attempt, mode="check")) == {"cli_session_state": "none"}


def test_upgrading_the_anonymous_user_in_place_keeps_the_user(emu):
    anon = anon_sign_up(emu)
    attempt = start(emu, anon_refresh_token=anon["refresh_token"])
    claimed = ok(complete(emu, attempt, mode="claim-anon-session"))
    upgraded = sign_up(emu, token=claimed["access_token"], headers=ALLOW_ANON)
    assert upgraded["user_id"] == anon["user_id"]
    # Once upgraded, the CLI's session is no longer anonymous
    assert ok(complete(emu, attempt, mode="check")) == {"cli_session_state": "none"}
    ok(complete(emu, attempt, refresh_token=upgraded["refresh_token"]))
    assert ok(poll(emu, attempt), 201)["refresh_token"] == upgraded["refresh_token"]
    assert ok(call(emu, "GET", f"/users/{anon['user_id']}", access="server"))["is_anonymous"] is False


def test_completing_with_another_user_leaves_the_anonymous_user_alone(emu):
    anon = anon_sign_up(emu)
    ok(call(emu, "PATCH", f"/users/{anon['user_id']}", access="server", json={"client_metadata": {"from": "anon"}}))
    attempt = start(emu, anon_refresh_token=anon["refresh_token"])
    browser = sign_up(emu)
    ok(complete(emu, attempt, refresh_token=browser["refresh_token"]))
    assert ok(poll(emu, attempt), 201)["refresh_token"] == browser["refresh_token"]
    anon_view = ok(call(emu, "GET", f"/users/{anon['user_id']}", access="server"))
    assert anon_view["is_anonymous"] is True and anon_view["client_metadata"] == {"from": "anon"}
    browser_view = ok(call(emu, "GET", f"/users/{browser['user_id']}", access="server"))
    assert browser_view["client_metadata"] is None


@pytest.mark.parametrize("token_kind,text", [
    ("unknown", "Invalid anon refresh token"),
    ("real-user", "The provided refresh token does not belong to an anonymous user"),
    ("other-project", "Anon refresh token does not belong to this project"),
])
def test_bad_anonymous_refresh_tokens(emu, token_kind, text):
    if token_kind == "unknown":
        token = "invalid-token-that-does-not-exist"
    elif token_kind == "real-user":
        token = sign_up(emu)["refresh_token"]
    else:
        token = anon_sign_up(emu, project_id="internal")["refresh_token"]
    text_error(call(emu, "POST", "/auth/cli", access="server", json={"anon_refresh_token": token}), 400, text)


# ---- expiry on the emulator clock (own emulator: the clock only moves forward) -------------------------------------

@pytest.fixture(scope="module")
def clock_emu():
    e = start_emulator()
    yield e
    e.stop()


def advance(emu, seconds):
    ok(raw(emu, "POST", "/api/v1/emulator/clock/advance", json={"seconds": seconds}))


def test_expiry_follows_the_emulator_clock(clock_emu):
    anon = anon_sign_up(clock_emu)
    attempt = start(clock_emu, expires_in_millis=60_000, anon_refresh_token=anon["refresh_token"])
    browser = sign_up(clock_emu)
    assert ok(poll(clock_emu, attempt)) == {"status": "waiting"}
    advance(clock_emu, 61)
    assert ok(poll(clock_emu, attempt)) == {"status": "expired"}
    for body in ({"mode": "check"}, {"mode": "claim-anon-session"}, {"refresh_token": browser["refresh_token"]}):
        text_error(complete(clock_emu, attempt, **body), 400, "Invalid login code or the code has expired")


def test_expired_anonymous_session_cannot_start_a_login(clock_emu):
    anon = anon_sign_up(clock_emu)
    session = ok(call(clock_emu, "POST", "/auth/sessions", access="server",
                      json={"user_id": anon["user_id"], "expires_in_millis": 1000}))
    advance(clock_emu, 2)
    text_error(call(clock_emu, "POST", "/auth/cli", access="server",
                    json={"anon_refresh_token": session["refresh_token"]}), 400,
               "The provided anon refresh token has expired")
