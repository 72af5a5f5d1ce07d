"""Sign-up rules over HTTP: auth.signUpRules from hexclave.config.py and the config API, CEL conditions, the actions
allow / reject / restrict / log, priority then id order, the default action, every sign-up path (password, OTP,
OAuth, anonymous upgrade; not anonymous sign-up or server-created users), /internal/sign-up-rules-test, and broken
conditions as config errors.

Reference: apps/backend/src/lib/sign-up-rules.ts, cel-evaluator.ts, users.tsx (createOrUpgradeAnonymousUserWithRules),
internal/sign-up-rules-test/route.tsx, known-errors.tsx (SIGN_UP_REJECTED) and the e2e tests auth/sign-up-rules.test.ts
and internal/sign-up-rules-test.test.ts.
"""
from __future__ import annotations

import json
import re
import time

import httpx
import pytest

from support import INTERNAL_SAK, start_emulator
from wire import (ALLOW_ANON, PASSWORD, anon_sign_up, call, create_user, fresh_email, known_error, ok, schema_error,
                  write_config)

REJECTED = "Your sign up was rejected by an administrator's sign-up rule."
BASE = {"auth": {"password": {"allowSignIn": True}, "otp": {"allowSignIn": True},
                 "oauth": {"providers": {"github": {"type": "github", "allowSignIn": True}}}}}


def rule(condition: str, action: str, priority: int = 0, **extra) -> dict:
    return {"enabled": True, "displayName": extra.pop("name", ""), "priority": priority, "condition": condition,
            "action": {"type": action, **extra}}


@pytest.fixture(scope="module")
def remu():
    path = write_config(BASE)
    e = start_emulator(config=path)
    e.config_path = path
    yield e
    e.stop()


def admin(emu, method: str, path: str, **kw) -> httpx.Response:
    """Admin access to the config file's project through the development override key."""
    return call(emu, method, path, access="admin", headers={"x-stack-development-override-key": INTERNAL_SAK}, **kw)


def set_rules(emu, rules: dict, default: str = "allow") -> None:
    """Rules through the config API (environment level), as the dashboard and the platform's tests set them."""
    change = {f"auth.signUpRules.{rid}": r for rid, r in rules.items()}
    change["auth.signUpRulesDefaultAction"] = default
    ok(admin(emu, "PUT", "/internal/config/override/environment", json={"config_string": json.dumps(change)}))


def password_sign_up(emu, email: str, **kw) -> httpx.Response:
    return call(emu, "POST", "/auth/password/sign-up", json={"email": email, "password": PASSWORD}, **kw)


def rejected(r: httpx.Response) -> dict:
    return known_error(r, 403, "SIGN_UP_REJECTED", {"message": REJECTED})


def server_user(emu, user_id: str) -> dict:
    return ok(call(emu, "GET", f"/users/{user_id}", access="server"))


def test_reject_allow_and_default(remu):
    set_rules(remu, {"block": rule('emailDomain == "blocked.example.org"', "reject", message="internal note")})
    body = rejected(password_sign_up(remu, fresh_email("x").replace("example.com", "blocked.example.org")))
    assert "internal note" not in json.dumps(body)  # the rule's message is for admins only
    ok(password_sign_up(remu, fresh_email()))

    set_rules(remu, {"vip": rule('email.startsWith("vip-")', "allow")}, default="reject")
    ok(password_sign_up(remu, fresh_email("vip")))
    rejected(password_sign_up(remu, fresh_email("plain")))


def test_priority_then_id_order_and_stopping(remu):
    # The higher priority decides even though it comes later in the config.
    set_rules(remu, {"allow-all": rule("true", "allow", 1), "reject-all": rule("true", "reject", 2)})
    rejected(password_sign_up(remu, fresh_email()))
    # Same priority: ids in alphabetical order.
    set_rules(remu, {"zzz": rule("true", "allow"), "aaa": rule("true", "reject")})
    rejected(password_sign_up(remu, fresh_email()))
    set_rules(remu, {"zzz": rule("true", "reject"), "aaa": rule("true", "allow")})
    ok(password_sign_up(remu, fresh_email()))
    # log continues; disabled rules and rules without a condition never match.
    set_rules(remu, {"a-log": rule("true", "log", 9), "b-off": {**rule("true", "reject", 8), "enabled": False},
                     "c-empty": rule("", "reject", 7)})
    ok(password_sign_up(remu, fresh_email()))


def test_restrict_marks_the_user_and_continues(remu):
    set_rules(remu, {"a-restrict": rule('emailDomain == "example.com"', "restrict", 5, name="Suspicious"),
                     "b-restrict": rule("true", "restrict", 5),
                     "c-reject": rule('email.contains("nope")', "reject", 1)})
    user_id = ok(password_sign_up(remu, fresh_email()))["user_id"]
    user = server_user(remu, user_id)
    assert user["restricted_by_admin"] is True and user["is_restricted"] is True
    assert user["restricted_reason"] == {"type": "restricted_by_administrator"}
    assert "a-restrict" in user["restricted_by_admin_private_details"]
    assert "Suspicious" in user["restricted_by_admin_private_details"]
    assert "b-restrict" not in user["restricted_by_admin_private_details"]
    # restrict, then a reject further down: no user at all
    rejected(password_sign_up(remu, fresh_email("nope")))
    set_rules(remu, {})
    assert server_user(remu, ok(password_sign_up(remu, fresh_email()))["user_id"])["restricted_by_admin"] is False


def test_cel_features(remu):
    set_rules(remu, {
        "list": rule('emailDomain in ["tempmail.com", "throwaway.io"]', "reject", 3),
        "regex-backreference": rule('email.matches("^(a)\\\\1")', "reject", 2),
        "compound": rule('(email.contains("test") || email.contains("demo")) && authMethod == "password"',
                         "reject", 1),
        "broken-regex": rule('email.matches("test(unclosed")', "reject", 4),  # a run-time error never matches
    })
    rejected(password_sign_up(remu, "someone@tempmail.com"))
    rejected(password_sign_up(remu, fresh_email("aa")))
    rejected(password_sign_up(remu, fresh_email("demo")))
    ok(password_sign_up(remu, fresh_email("abc")))


def test_country_code_from_geo_headers_and_address_tag(remu):
    set_rules(remu, {"us": rule('countryCode == "US"', "reject"), "ca": rule('countryCode == "CA"', "restrict")})
    rejected(password_sign_up(remu, fresh_email(), headers={"x-vercel-ip-country": "us"}))
    rejected(password_sign_up(remu, fresh_email(), headers={"cf-ipcountry": "US"}))
    # in development an address tag on example.com stands for the country (as on the platform)
    user_id = ok(password_sign_up(remu, f"someone{time.time_ns()}+CA@example.com"))["user_id"]
    user = server_user(remu, user_id)
    assert user["country_code"] == "CA" and "ca" in user["restricted_by_admin_private_details"]
    assert server_user(remu, ok(password_sign_up(remu, fresh_email()))["user_id"])["country_code"] is None


def test_anonymous_sign_up_skips_rules_but_its_upgrade_does_not(remu):
    set_rules(remu, {"all": rule("true", "reject")})
    anon = anon_sign_up(remu)  # never rejected
    rejected(password_sign_up(remu, fresh_email(), token=anon["access_token"], headers=ALLOW_ANON))
    # a server creating a user is not a sign-up either
    create_user(remu, primary_email=fresh_email())
    set_rules(remu, {"restrict": rule('authMethod == "password"', "restrict")})
    body = ok(password_sign_up(remu, fresh_email(), token=anon["access_token"], headers=ALLOW_ANON))
    assert body["user_id"] == anon["user_id"]
    user = server_user(remu, anon["user_id"])
    assert user["is_anonymous"] is False and user["restricted_by_admin"] is True


def otp_sign_in(emu, email: str, **kw) -> httpx.Response:
    ok(call(emu, "POST", "/auth/otp/send-sign-in-code",
            json={"email": email, "callback_url": "http://localhost:3000/handler/magic-link-callback"}))
    with emu.http() as h:
        mail = ok(h.get("/emulator/inbox/wait", params={"to": email, "since": 0, "timeout": 10}))
    code = re.search(r"[?&]code=([0-9a-z]{45})", mail["text"]).group(1)
    return call(emu, "POST", "/auth/otp/sign-in", json={"code": code}, **kw)


def test_otp_and_oauth_sign_ups_see_their_method(remu):
    set_rules(remu, {"no-otp": rule('authMethod == "otp"', "reject"),
                     "no-github": rule('authMethod == "oauth" && oauthProvider == "github"', "reject")})
    rejected(otp_sign_in(remu, fresh_email()))

    callback = "http://localhost:3000/some-callback-url"
    with httpx.Client(follow_redirects=False, timeout=10) as b:
        r = b.get(f"{remu.api}/auth/oauth/authorize/github", params={
            "client_id": remu.project_id, "client_secret": remu.pck, "redirect_uri": callback, "scope": "legacy",
            "state": "s", "grant_type": "authorization_code", "code_challenge": "verifier-verifier-verifier-verifier-x",
            "code_challenge_method": "plain", "response_type": "code"})
        r = b.get(r.headers["location"] + "&emulator_login=" + fresh_email())
        r = b.get(r.headers["location"])
    assert r.status_code == 307
    location = httpx.URL(r.headers["location"])
    assert str(location).startswith(callback)
    assert location.params["errorCode"] == "SIGN_UP_REJECTED" and location.params["error"] == "server_error"
    assert json.loads(location.params["details"]) == {"message": REJECTED}
    set_rules(remu, {})


def test_sign_up_rules_test_endpoint(remu):
    set_rules(remu, {"log-first": rule('emailDomain == "example.com"', "log", 2, name="Log first"),
                     "block-oauth": rule('authMethod == "oauth"', "reject", 1, message="OAuth blocked"),
                     "off": {"displayName": "Off", "condition": "true", "action": {"type": "reject"}},
                     "bad": rule('email.matches("(")', "reject", 0)})
    body = ok(admin(remu, "POST", "/internal/sign-up-rules-test", json={
        "email": "Test@Example.com", "auth_method": "oauth", "oauth_provider": "google", "country_code": "us"}))
    assert body["context"] == {"email": "test@example.com", "email_domain": "example.com", "country_code": "US",
                               "auth_method": "oauth", "oauth_provider": "google", "turnstile_result": "invalid",
                               "risk_scores": {"bot": 0, "free_trial_abuse": 0}}
    assert [(e["rule_id"], e["status"]) for e in body["evaluations"]] == [("log-first", "matched"),
                                                                          ("block-oauth", "matched")]
    assert body["evaluations"][1]["action"] == {"type": "reject", "message": "OAuth blocked"}
    assert body["outcome"] == {"should_allow": False, "decision": "reject", "decision_rule_id": "block-oauth",
                               "restricted_because_of_rule_id": None}

    body = ok(admin(remu, "POST", "/internal/sign-up-rules-test", json={
        "email": None, "auth_method": "password", "oauth_provider": None, "country_code": None,
        "risk_scores": {"bot": 90, "free_trial_abuse": 5}}))
    statuses = {e["rule_id"]: e for e in body["evaluations"]}
    assert statuses["off"]["status"] == "disabled" and statuses["off"]["enabled"] is True  # as the platform shows it
    assert statuses["bad"]["status"] == "error" and statuses["bad"]["error"]
    assert body["context"]["risk_scores"] == {"bot": 90, "free_trial_abuse": 5}
    assert body["outcome"]["decision"] == "default-allow"

    # admin only, validated
    known_error(call(remu, "POST", "/internal/sign-up-rules-test", access="server", json={}), 401,
                "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type", "allowed_access_types"})
    errors = schema_error(admin(remu, "POST", "/internal/sign-up-rules-test", json={
        "email": "a@b.co", "auth_method": "carrier-pigeon", "oauth_provider": None, "country_code": "USA",
        "risk_scores": {"bot": 101, "free_trial_abuse": 0}}), "POST", "/api/v1/internal/sign-up-rules-test")
    assert len(errors) == 3
    set_rules(remu, {})


def test_config_api_rejects_a_broken_condition(remu):
    r = admin(remu, "PATCH", "/internal/config/override/environment", json={
        "config_override_string": json.dumps({"auth.signUpRules.broken": rule('email.contains("x"', "reject")})})
    assert r.status_code == 400 and "auth.signUpRules.broken.condition" in r.text and "syntax error" in r.text
    r = admin(remu, "PATCH", "/internal/config/override/environment", json={
        "config_override_string": json.dumps({"auth.signUpRules.typo.condition": "emial == 'a'"})})
    assert r.status_code == 400 and "undeclared reference to 'emial'" in r.text


def test_config_file_rules_hot_reload_and_broken_condition_keeps_last_good(tmp_path):
    path = tmp_path / "hexclave.config.py"
    config = json.loads(json.dumps(BASE))
    config["auth"]["signUpRules"] = {"block": rule('emailDomain == "example.com"', "reject")}
    path.write_text(f"config = {config!r}\n")
    emu = start_emulator(config=path)
    try:
        rejected(password_sign_up(emu, fresh_email()))
        config["auth"]["signUpRules"]["block"]["condition"] = 'emailDomain == "example.com" &&'
        path.write_text(f"config = {config!r}\n")
        deadline = time.monotonic() + 10
        while not any("auth.signUpRules.block.condition: syntax error" in line for line in emu.output):
            assert time.monotonic() < deadline, "".join(emu.output[-20:])
            time.sleep(0.05)
        line = next(line for line in emu.output if "auth.signUpRules.block.condition" in line)
        assert str(path) in line
        rejected(password_sign_up(emu, fresh_email()))  # the last good config holds
        config["auth"]["signUpRules"]["block"]["condition"] = 'emailDomain == "elsewhere.org"'
        path.write_text(f"config = {config!r}\n")
        time.sleep(0.3)
        ok(password_sign_up(emu, fresh_email()))
    finally:
        emu.stop()
