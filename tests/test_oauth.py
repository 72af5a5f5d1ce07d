"""OAuth end to end over HTTP, redirects walked by hand: the platform's authorize -> the simulated provider's page
-> the inner callback -> /auth/oauth/token; linking, merge strategies, errors redirected with the reference's query
parameters, cross-domain handoff, /oauth-providers and connected-account access tokens.

Reference: apps/backend/src/app/api/latest/auth/oauth/**, src/oauth/model.tsx, src/lib/oauth.tsx,
connected-accounts/**, oauth-providers/crud.tsx and the e2e tests auth/oauth/*.test.ts, connected-accounts.test.ts.
"""
from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest

from support import start_emulator
from wire import call, create_user, fresh_email, known_error, text_error, write_config

CALLBACK = "http://localhost:12345/some-callback-url"
VERIFIER = "some-code-challenge"  # plain PKCE, as the reference's e2e helpers use
TYPES = ["google", "github", "microsoft", "spotify", "facebook", "discord", "gitlab", "bitbucket", "linkedin",
         "apple", "x", "twitch"]
OIDC_TYPES = ["google", "microsoft", "gitlab", "linkedin", "apple", "twitch"]
UNVERIFIED_TYPES = {"microsoft", "spotify", "facebook"}  # the platform never trusts these providers' emails

BASE_CONFIG = {
    "auth": {"allowSignUp": True, "password": {"allowSignIn": True}, "oauth": {
        "accountMergeStrategy": "link_method",
        "providers": {
            **{t: {"type": t, "allowSignIn": True, "allowConnectedAccounts": True} for t in TYPES},
            "own-github": {"type": "github", "isShared": False, "clientId": "my-client", "clientSecret": "s3cret",
                           "allowSignIn": True, "allowConnectedAccounts": True},
            "typeless": {"allowSignIn": True},
        }}},
    "domains": {"allowLocalhost": True, "trustedDomains": {"app": {"baseUrl": "https://app.example.com"}}},
}
BASE_CONFIG["auth"]["oauth"]["providers"]["google"]["emulatorIdentities"] = {
    "g-1001": {"email": "predefined@example.com", "displayName": "Pre Defined", "emailVerified": True}}


def config_text(config: dict) -> str:
    return f"config = {config!r}\n"


@pytest.fixture(scope="module")
def oemu():
    path = write_config(BASE_CONFIG)
    e = start_emulator(config=path)
    e.config_path = path
    yield e
    e.stop()


def set_config(emu, config: dict) -> None:
    """Rewrite the config file; the emulator applies it to the next request."""
    emu.config_path.write_text(config_text(config))
    time.sleep(0.02)


def with_oauth(**oauth) -> dict:
    config = json.loads(json.dumps(BASE_CONFIG))
    config["auth"]["oauth"].update(oauth)
    return config


# ---- flow helpers ---------------------------------------------------------------------------------------------------

def browser() -> httpx.Client:
    return httpx.Client(follow_redirects=False, timeout=10)


def authorize_query(emu, **extra) -> dict:
    q = {"client_id": emu.project_id, "client_secret": emu.pck, "redirect_uri": CALLBACK, "scope": "legacy",
         "state": "this-is-some-state", "grant_type": "authorization_code", "code_challenge": VERIFIER,
         "code_challenge_method": "plain", "response_type": "code"}
    q.update({k: v for k, v in extra.items() if v is not None})
    return q


def authorize(b: httpx.Client, emu, provider_id: str, **extra) -> httpx.Response:
    return b.get(f"{emu.api}/auth/oauth/authorize/{provider_id}", params=authorize_query(emu, **extra))


def provider_location(b, emu, provider_id, **extra) -> str:
    r = authorize(b, emu, provider_id, **extra)
    assert r.status_code == 307, r.text
    return r.headers["location"]


def login_at_provider(b, location: str, email: str | None, **hint) -> str:
    """Non-interactive: `emulator_login` on the provider URL answers at once. Returns the inner callback URL."""
    r = b.get(add_query(location, emulator_login=email, **{f"emulator_{k}": v for k, v in hint.items()}))
    assert r.status_code == 303, r.text
    return r.headers["location"]


def add_query(url: str, **params) -> str:
    return url + "&" + urlencode({k: v for k, v in params.items() if v is not None})


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def exchange(emu, code: str, *, verifier: str = VERIFIER, redirect_uri: str = CALLBACK, json_body=False,
             **extra) -> httpx.Response:
    body = {"grant_type": "authorization_code", "client_id": emu.project_id, "client_secret": emu.pck, "code": code,
            "redirect_uri": redirect_uri, "code_verifier": verifier, **extra}
    with browser() as c:
        return c.post(f"{emu.api}/auth/oauth/token", **({"json": body} if json_body else {"data": body}))


def code_for(emu, provider_id: str, email: str, *, b=None, **extra) -> str:
    b = b or browser()
    callback = login_at_provider(b, provider_location(b, emu, provider_id, **extra), email)
    r = b.get(callback)
    assert r.status_code == 303, r.text
    assert query_of(r.headers["location"]).keys() == {"code", "state"}
    return query_of(r.headers["location"])["code"]


def sign_in(emu, provider_id: str, email: str, **extra) -> dict:
    r = exchange(emu, code_for(emu, provider_id, email, **extra))
    assert r.status_code == 200, r.text
    return r.json()


def error_redirect(b, callback_url: str) -> dict[str, str]:
    r = b.get(callback_url)
    assert r.status_code == 307, r.text
    return query_of(r.headers["location"]) | {"_url": r.headers["location"]}


def me(emu, token: str) -> dict:
    r = call(emu, "GET", "/users/me", token=token)
    assert r.status_code == 200, r.text
    return r.json()


# ---- full sign-in, every provider type --------------------------------------------------------------------------------

@pytest.mark.parametrize("provider_type", TYPES)
def test_full_sign_in_through_the_provider_page(oemu, provider_type):
    email = fresh_email(provider_type)
    b = browser()
    location = provider_location(b, oemu, provider_type)
    assert location.startswith(f"{oemu.url}/emulator/oauth/{provider_type}/authorize?")
    q = query_of(location)
    assert q["response_type"] == "code" and q["code_challenge_method"] == "S256" and q["prompt"] == "consent"
    assert q["redirect_uri"] == f"{oemu.url}/api/v1/auth/oauth/callback/{provider_type}"
    assert any(c.startswith("stack-oauth-inner-") for c in b.cookies)

    page = b.get(location)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "Local Emulator: hexclave.config.py" in page.text  # the project's name is shown
    hidden = {k: q[k] for k in ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
                                "code_challenge_method")}
    r = b.post(location.split("?")[0], data={**hidden, "action": "grant", "email": email, "name": "Ada Lovelace",
                                             "avatar_url": "https://img.example.com/ada.png",
                                             "account_id": f"acct-{provider_type}-{email}", "email_verified": "true"})
    assert r.status_code == 303, r.text
    callback = r.headers["location"]
    assert callback.startswith(q["redirect_uri"] + "?")
    assert query_of(callback)["state"] == q["state"]

    r = b.get(callback)
    assert r.status_code == 303, r.text
    assert r.headers["location"].startswith(CALLBACK + "?")
    outer = query_of(r.headers["location"])
    assert outer.keys() == {"code", "state"} and outer["state"] == "this-is-some-state"
    assert not any(c.startswith("stack-oauth-inner-") for c in b.cookies)  # the callback deletes the cookie

    t = exchange(oemu, outer["code"])
    assert t.status_code == 200, t.text
    assert t.headers["pragma"] == "no-cache"
    body = t.json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "scope", "is_new_user",
                         "newUser", "after_callback_redirect_url", "afterCallbackRedirectUrl"}
    assert body["token_type"] == "Bearer" and body["scope"] == "legacy"
    assert body["is_new_user"] is True and body["newUser"] is True and body["after_callback_redirect_url"] is None

    user = me(oemu, body["access_token"])
    assert user["oauth_providers"] == [{"id": provider_type, "account_id": f"acct-{provider_type}-{email}",
                                        "email": None if provider_type == "x" else email}]
    assert user["display_name"] == "Ada Lovelace"
    assert user["profile_image_url"] == "https://img.example.com/ada.png"
    assert user["has_password"] is False and user["auth_with_email"] is False
    if provider_type == "x":  # X gives no email
        assert user["primary_email"] is None
    else:
        assert user["primary_email"] == email
        assert user["primary_email_verified"] is (provider_type not in UNVERIFIED_TYPES)

    # the same account signs in again as the same user
    again = sign_in(oemu, provider_type, f"acct-{provider_type}-{email}")
    assert again["is_new_user"] is False and me(oemu, again["access_token"])["id"] == user["id"]


def test_json_mode_needs_no_cookie(oemu):
    b = browser()
    r = authorize(b, oemu, "github", stack_response_mode="json")
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"location"} and "set-cookie" not in r.headers
    callback = login_at_provider(browser(), r.json()["location"], fresh_email())
    r = browser().get(callback)  # another client: no cookie at all
    assert r.status_code == 303 and "set-cookie" not in r.headers
    assert exchange(oemu, query_of(r.headers["location"])["code"]).status_code == 200


def test_redirect_mode_without_the_cookie_fails(oemu):
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "github"), fresh_email())
    r = browser().get(callback)
    text_error(r, 400, "Inner OAuth cookie not found. This is likely because you refreshed the page during the OAuth "
                       "sign in process. Please try signing in again")
    assert "stack-oauth-inner-" in r.headers["set-cookie"]


def test_callback_with_bad_state_or_code(oemu):
    text_error(browser().get(f"{oemu.api}/auth/oauth/callback/github", params={"state": "nope", "code": "x"}), 400,
               "Invalid OAuth state. Please try signing in again.")
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "github"), fresh_email())
    bad = callback.replace("code=", "code=invalid")
    text_error(b.get(bad), 400, "Inner OAuth callback failed due to invalid grant. Please try again.")
    # a code of another provider (wrong provider id in the path) is an invalid grant too
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "github"), fresh_email())
    text_error(b.get(callback.replace("/callback/github", "/callback/google")), 400,
               "Inner OAuth callback failed due to invalid grant. Please try again.")


# ---- authorize errors -------------------------------------------------------------------------------------------------

def test_authorize_errors(oemu):
    b = browser()
    known_error(authorize(b, oemu, "github", client_id=str(uuid.uuid4())), 400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
                {"client_id"})
    known_error(authorize(b, oemu, "github", client_secret="pck_wrong"), 401, "INVALID_PUBLISHABLE_CLIENT_KEY",
                {"project_id"})
    assert authorize(b, oemu, "github", client_secret="__stack_public_client__").status_code == 307
    known_error(authorize(b, oemu, "gitlab-nope"), 400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
    known_error(authorize(b, oemu, "typeless"), 400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
    text_error(authorize(b, oemu, "github", type="link"), 400, "?token= query parameter is required for link type")
    known_error(authorize(b, oemu, "github", after_callback_redirect_url="https://evil.example.org/x"), 400,
                "REDIRECT_URL_NOT_WHITELISTED")
    known_error(authorize(b, oemu, "github", provider_scope="repo"), 400,
                "OAUTH_EXTRA_SCOPE_NOT_AVAILABLE_WITH_SHARED_OAUTH_KEYS")
    known_error(authorize(b, oemu, "github", token="garbage"), 401, "UNPARSABLE_ACCESS_TOKEN")
    r = b.get(f"{oemu.api}/auth/oauth/authorize/github", params={"client_id": oemu.project_id, "utm_source": "x"})
    assert r.status_code == 400 and r.headers["x-stack-known-error"] == "SCHEMA_ERROR"
    assert "query.client_secret must be defined" in r.json()["error"] and "utm_source" not in r.json()["error"]


def test_after_callback_redirect_url_is_echoed(oemu):
    body = exchange(oemu, code_for(oemu, "github", fresh_email(),
                                   after_callback_redirect_url="https://app.example.com/after")).json()
    assert body["after_callback_redirect_url"] == body["afterCallbackRedirectUrl"] == "https://app.example.com/after"


# ---- the token endpoint ---------------------------------------------------------------------------------------------

def test_code_is_single_use_and_checks_pkce_and_redirect_uri(oemu):
    code = code_for(oemu, "github", fresh_email())
    known_error(exchange(oemu, code, verifier="wrong-verifier"), 400, "INVALID_AUTHORIZATION_CODE")
    text_error(exchange(oemu, code, redirect_uri="http://localhost:12345/other"), 400,
               "Invalid redirect URI. Your redirect URI must be the same as the one used to get the authorization code.")
    r = exchange(oemu, code, redirect_uri="not a uri")
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    assert exchange(oemu, code, json_body=True).status_code == 200  # still unused: failed attempts don't burn it
    known_error(exchange(oemu, code), 400, "INVALID_AUTHORIZATION_CODE")  # used
    known_error(exchange(oemu, "0" * 40), 400, "INVALID_AUTHORIZATION_CODE")
    known_error(exchange(oemu, code, client_secret="pck_wrong"), 400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET",
                {"client_id": None})


def test_s256_pkce(oemu):
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    code = code_for(oemu, "github", fresh_email(), code_challenge=challenge, code_challenge_method="S256")
    known_error(exchange(oemu, code, verifier=challenge), 400, "INVALID_AUTHORIZATION_CODE")
    assert exchange(oemu, code, verifier=verifier).status_code == 200


def test_refresh_grant_after_oauth_sign_in(oemu):
    tokens = sign_in(oemu, "github", fresh_email())
    with browser() as c:
        r = c.post(f"{oemu.api}/auth/oauth/token", data={"grant_type": "refresh_token", "client_id": oemu.project_id,
                                                         "client_secret": oemu.pck,
                                                         "refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200 and "refresh_token" not in r.json()


def test_mfa_user_gets_an_attempt_code(oemu):
    email = fresh_email()
    user_id = me(oemu, sign_in(oemu, "github", email)["access_token"])["id"]
    secret = base64.b64encode(b"0123456789abcdefghij").decode()
    assert call(oemu, "PATCH", f"/users/{user_id}", access="server",
                json={"totp_secret_base64": secret}).status_code == 200
    known_error(exchange(oemu, code_for(oemu, "github", email)), 400, "MULTI_FACTOR_AUTHENTICATION_REQUIRED",
                {"attempt_code"})


# ---- provider errors and redirects ---------------------------------------------------------------------------------

@pytest.mark.parametrize("result,code,status", [("deny", "OAUTH_PROVIDER_ACCESS_DENIED", 400),
                                                ("unavailable", "OAUTH_PROVIDER_TEMPORARILY_UNAVAILABLE", 503)])
def test_denied_or_unavailable_provider(oemu, result, code, status):
    b = browser()
    r = b.get(add_query(provider_location(b, oemu, "github"), emulator_result=result))
    assert r.status_code == 303
    err = error_redirect(b, r.headers["location"])
    assert err["_url"].startswith(CALLBACK + "?")
    assert err["error"] == "server_error" and err["errorCode"] == code and err["details"] == "{}"
    assert err["message"] == err["error_description"]
    # with an untrusted redirect_uri and no error_redirect_uri the error is answered directly
    b = browser()
    r = b.get(add_query(provider_location(b, oemu, "github", redirect_uri="https://evil.example.org/cb"),
                        emulator_result=result))
    known_error(b.get(r.headers["location"]), status, code)


def test_untrusted_redirect_uri(oemu):
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "github", redirect_uri="https://evil.example.org/cb"),
                                 fresh_email())
    known_error(b.get(callback), 400, "REDIRECT_URL_NOT_WHITELISTED")
    # ... unless a trusted error_redirect_uri takes the error
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "github", redirect_uri="https://evil.example.org/cb",
                                                      error_redirect_uri="https://app.example.com/oauth-error"),
                                 fresh_email())
    err = error_redirect(b, callback)
    assert err["_url"].startswith("https://app.example.com/oauth-error?")
    assert err["errorCode"] == "REDIRECT_URL_NOT_WHITELISTED"
    # a similar-looking host is not trusted
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "github",
                                                      redirect_uri="https://app.example.com.evil.org/cb"), fresh_email())
    known_error(b.get(callback), 400, "REDIRECT_URL_NOT_WHITELISTED")


# ---- linking, merging, sign-up rules ------------------------------------------------------------------------------

def test_link_a_second_provider_and_account_taken(oemu):
    first = sign_in(oemu, "github", fresh_email())
    user = me(oemu, first["access_token"])
    other_email = fresh_email("linked")
    linked = sign_in(oemu, "google", other_email, type="link", token=first["access_token"])
    assert linked["is_new_user"] is False
    after = me(oemu, linked["access_token"])
    assert after["id"] == user["id"]
    assert [p["id"] for p in after["oauth_providers"]] == ["github", "google"]
    assert after["primary_email"] == user["primary_email"]  # linking does not change the primary email
    # the linked account now signs in as that user
    assert me(oemu, sign_in(oemu, "google", other_email)["access_token"])["id"] == user["id"]
    # another user cannot link the same provider account
    stranger = sign_in(oemu, "github", fresh_email())
    b = browser()
    callback = login_at_provider(b, provider_location(b, oemu, "google", type="link",
                                                      token=stranger["access_token"]), other_email)
    err = error_redirect(b, callback)
    assert err["errorCode"] == "OAUTH_CONNECTION_ALREADY_CONNECTED_TO_ANOTHER_USER"


def test_anonymous_user_is_upgraded(oemu):
    anon = call(oemu, "POST", "/auth/anonymous/sign-up").json()
    email = fresh_email()
    tokens = sign_in(oemu, "github", email, token=anon["access_token"])
    assert tokens["is_new_user"] is True
    user = me(oemu, tokens["access_token"])
    assert user["id"] == anon["user_id"] and user["is_anonymous"] is False and user["primary_email"] == email


@pytest.mark.parametrize("strategy", ["link_method", "raise_error", "allow_duplicates"])
def test_merge_strategies(oemu, strategy):
    set_config(oemu, with_oauth(accountMergeStrategy=strategy))
    try:
        email = fresh_email("merge")
        existing = create_user(oemu, primary_email=email, primary_email_verified=True, primary_email_auth_enabled=True)
        b = browser()
        callback = login_at_provider(b, provider_location(b, oemu, "github"), email)
        if strategy == "raise_error":
            err = error_redirect(b, callback)
            assert err["errorCode"] == "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE"
            assert json.loads(err["details"]) == {"type": "email", "contact_channel_value": email,
                                                  "would_work_if_email_was_verified": False}
            return
        r = b.get(callback)
        assert r.status_code == 303, r.text
        tokens = exchange(oemu, query_of(r.headers["location"])["code"]).json()
        user = call(oemu, "GET", f"/users/{me(oemu, tokens['access_token'])['id']}", access="server").json()
        if strategy == "link_method":
            assert tokens["is_new_user"] is False and user["id"] == existing["id"]
            assert user["oauth_providers"][0]["account_id"] == email
        else:
            assert tokens["is_new_user"] is True and user["id"] != existing["id"]
            assert user["primary_email"] == email and user["primary_email_auth_enabled"] is False
    finally:
        set_config(oemu, BASE_CONFIG)


def test_link_method_refuses_unverified_emails(oemu):
    email = fresh_email("unverified")
    create_user(oemu, primary_email=email, primary_email_verified=False, primary_email_auth_enabled=True)
    b = browser()
    err = error_redirect(b, login_at_provider(b, provider_location(b, oemu, "github"), email))
    assert err["errorCode"] == "CONTACT_CHANNEL_ALREADY_USED_FOR_AUTH_BY_SOMEONE_ELSE"
    assert json.loads(err["details"])["would_work_if_email_was_verified"] is True
    # a provider whose email the platform does not trust cannot link either
    email = fresh_email("verified")
    create_user(oemu, primary_email=email, primary_email_verified=True, primary_email_auth_enabled=True)
    b = browser()
    err = error_redirect(b, login_at_provider(b, provider_location(b, oemu, "spotify"), email))
    assert json.loads(err["details"])["would_work_if_email_was_verified"] is False


def test_sign_up_disabled(oemu):
    email = fresh_email()
    known = sign_in(oemu, "github", email)  # an account made while sign-up was open
    closed = json.loads(json.dumps(BASE_CONFIG))
    closed["auth"]["allowSignUp"] = False
    set_config(oemu, closed)
    try:
        b = browser()
        err = error_redirect(b, login_at_provider(b, provider_location(b, oemu, "github"), fresh_email()))
        assert err["_url"].startswith(CALLBACK + "?")
        assert err["error"] == "server_error" and err["errorCode"] == "SIGN_UP_NOT_ENABLED" and err["details"] == "{}"
        again = sign_in(oemu, "github", email)  # existing accounts still sign in
        assert me(oemu, again["access_token"])["id"] == me(oemu, known["access_token"])["id"]
    finally:
        set_config(oemu, BASE_CONFIG)


def test_provider_removed_from_config_stops_working(oemu):
    tokens = sign_in(oemu, "discord", fresh_email())
    b = browser()
    location = provider_location(b, oemu, "discord")
    config = json.loads(json.dumps(BASE_CONFIG))
    del config["auth"]["oauth"]["providers"]["discord"]
    set_config(oemu, config)
    try:
        known_error(authorize(browser(), oemu, "discord"), 400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
        err = error_redirect(b, login_at_provider(b, location, fresh_email()))  # a flow already under way
        assert err["errorCode"] == "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED"
        known_error(call(oemu, "POST", "/connected-accounts/me/discord/access-token", token=tokens["access_token"],
                         json={}), 400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
        providers = call(oemu, "GET", "/projects/current").json()["config"]["enabled_oauth_providers"]
        assert {"id": "discord"} not in providers
    finally:
        set_config(oemu, BASE_CONFIG)


def test_projects_current_lists_providers_by_type(oemu):
    providers = call(oemu, "GET", "/projects/current").json()["config"]["enabled_oauth_providers"]
    assert providers == sorted([{"id": t} for t in TYPES + ["github"]], key=lambda p: p["id"])


# ---- cross-domain handoff -----------------------------------------------------------------------------------------

def test_cross_domain_authorize(oemu):
    tokens = sign_in(oemu, "github", fresh_email())
    verifier = "x" * 64
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    body = {"redirect_uri": "https://app.example.com/handler/oauth-callback", "state": "st", "code_challenge": challenge,
            "code_challenge_method": "S256"}
    headers = {"x-stack-refresh-token": tokens["refresh_token"]}
    r = call(oemu, "POST", "/auth/oauth/cross-domain/authorize", token=tokens["access_token"], json=body,
             headers=headers)
    assert r.status_code == 200, r.text
    url = r.json()["redirect_url"]
    assert url.startswith(body["redirect_uri"] + "?") and query_of(url)["state"] == "st"
    code = query_of(url)["code"]
    known_error(exchange(oemu, code, verifier="y" * 64, redirect_uri=body["redirect_uri"]), 400,
                "INVALID_AUTHORIZATION_CODE")
    handed = exchange(oemu, code, verifier=verifier, redirect_uri=body["redirect_uri"])
    assert handed.status_code == 200 and handed.json()["refresh_token"] == tokens["refresh_token"]
    known_error(exchange(oemu, code, verifier=verifier, redirect_uri=body["redirect_uri"]), 400,
                "INVALID_AUTHORIZATION_CODE")
    text_error(call(oemu, "POST", "/auth/oauth/cross-domain/authorize", token=tokens["access_token"], json=body), 400,
               "Cross-domain auth handoff requires passing the current refresh token.")
    other = sign_in(oemu, "github", fresh_email())
    text_error(call(oemu, "POST", "/auth/oauth/cross-domain/authorize", token=tokens["access_token"], json=body,
                    headers={"x-stack-refresh-token": other["refresh_token"]}), 401)
    known_error(call(oemu, "POST", "/auth/oauth/cross-domain/authorize", json=body, headers=headers), 401,
                "USER_AUTHENTICATION_REQUIRED")
    known_error(call(oemu, "POST", "/auth/oauth/cross-domain/authorize", token=tokens["access_token"],
                     json={**body, "redirect_uri": "https://evil.example.org/cb"}, headers=headers), 400,
                "REDIRECT_URL_NOT_WHITELISTED")


# ---- connected accounts and provider access tokens --------------------------------------------------------------------

def sim_post(emu, provider_type, path, **data):
    with browser() as c:
        return c.post(f"{emu.url}/emulator/oauth/{provider_type}/{path}", data=data)


def test_connected_account_access_tokens(oemu):
    email = fresh_email()
    tokens = sign_in(oemu, "github", email)
    at = tokens["access_token"]
    user_id = me(oemu, at)["id"]
    listed = call(oemu, "GET", "/connected-accounts/me", token=at).json()
    assert listed == {"items": [{"user_id": user_id, "provider": "github", "provider_account_id": email}],
                      "is_paginated": False}
    r = call(oemu, "POST", f"/connected-accounts/me/github/{email}/access-token", token=at, json={})
    assert r.status_code == 201, r.text
    first = r.json()["access_token"]
    with browser() as c:  # the token works at the provider
        info = c.get(f"{oemu.url}/emulator/oauth/github/userinfo", headers={"authorization": f"Bearer {first}"})
    assert info.status_code == 200 and info.json()["email"] == email
    assert call(oemu, "POST", f"/connected-accounts/me/github/{email}/access-token", token=at,
                json={}).json()["access_token"] == first  # still valid: the stored one

    # revoked at the provider: the emulator refreshes it with the stored refresh token
    assert sim_post(oemu, "github", "revoke", token=first).status_code == 200
    second = call(oemu, "POST", f"/connected-accounts/{user_id}/github/access-token", access="server",
                  json={"scope": "user:email"}).json()["access_token"]
    assert second != first
    # the deprecated route answers the same
    assert call(oemu, "POST", "/auth/oauth/connected-accounts/github/access-token", token=at,
                json={}).status_code == 201

    known_error(call(oemu, "POST", f"/connected-accounts/me/github/{email}/access-token", token=at,
                     json={"scope": "repo"}), 400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE")
    known_error(call(oemu, "POST", "/connected-accounts/me/github/someone-else/access-token", token=at, json={}), 400,
                "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER")
    known_error(call(oemu, "POST", "/connected-accounts/me/google/access-token", token=at, json={}), 400,
                "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER")
    known_error(call(oemu, "POST", "/connected-accounts/me/nope/access-token", token=at, json={}), 400,
                "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
    stranger = sign_in(oemu, "github", fresh_email())
    text_error(call(oemu, "GET", f"/connected-accounts/{user_id}", token=stranger["access_token"]), 403)
    text_error(call(oemu, "POST", f"/connected-accounts/{user_id}/github/access-token",
                    token=stranger["access_token"], json={}), 403)
    known_error(call(oemu, "GET", "/connected-accounts/me"), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")

    # the provider refuses the next refresh: the connection must be made again
    assert sim_post(oemu, "github", "revoke", token=second).status_code == 200
    assert sim_post(oemu, "github", "simulate-refresh-error", token=second,
                    error_type="invalid_grant").status_code == 200
    known_error(call(oemu, "POST", "/connected-accounts/me/github/access-token", token=at, json={}), 400,
                "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE")


def test_extra_provider_scope_with_own_keys(oemu):
    email = fresh_email()
    tokens = sign_in(oemu, "own-github", email, provider_scope="repo read:org")
    at = tokens["access_token"]
    r = call(oemu, "POST", f"/connected-accounts/me/own-github/{email}/access-token", token=at, json={"scope": "repo"})
    assert r.status_code == 201, r.text
    known_error(call(oemu, "POST", f"/connected-accounts/me/own-github/{email}/access-token", token=at,
                     json={"scope": "admin:org"}), 400, "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE")


def test_oauth_providers_crud(oemu):
    email = fresh_email()
    tokens = sign_in(oemu, "github", email)
    at = tokens["access_token"]
    user_id = me(oemu, at)["id"]
    items = call(oemu, "GET", "/oauth-providers", token=at, params={"user_id": "me"}).json()["items"]
    assert len(items) == 1
    account = items[0]
    assert account == {"user_id": user_id, "id": account["id"], "email": email, "provider_config_id": "github",
                       "type": "github", "allow_sign_in": True, "allow_connected_accounts": True}
    server_view = call(oemu, "GET", f"/oauth-providers/{user_id}/{account['id']}", access="server").json()
    assert server_view["account_id"] == email

    r = call(oemu, "POST", "/oauth-providers", access="server",
             json={"user_id": user_id, "provider_config_id": "google", "account_id": "g-42", "allow_sign_in": False,
                   "allow_connected_accounts": True})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["type"] == "google" and "email" not in created and created["account_id"] == "g-42"
    text_error(call(oemu, "POST", "/oauth-providers", access="server",
                    json={"user_id": user_id, "provider_config_id": "google", "account_id": "g-42",
                          "allow_sign_in": False, "allow_connected_accounts": True}), 400,
               "The same provider type with the same account ID already exists for this user.")
    text_error(call(oemu, "POST", "/oauth-providers", access="server",
                    json={"user_id": user_id, "provider_config_id": "github", "account_id": "gh-2",
                          "allow_sign_in": True, "allow_connected_accounts": True}), 400,
               "The same provider type with sign-in enabled already exists for this user.")
    other = create_user(oemu)
    known_error(call(oemu, "POST", "/oauth-providers", access="server",
                     json={"user_id": other["id"], "provider_config_id": "github", "account_id": email,
                           "allow_sign_in": True, "allow_connected_accounts": True}), 400,
                "OAUTH_PROVIDER_ACCOUNT_ID_ALREADY_USED_FOR_SIGN_IN")
    known_error(call(oemu, "POST", "/oauth-providers", token=at,
                     json={"user_id": user_id, "provider_config_id": "google", "account_id": "g-43",
                           "allow_sign_in": False, "allow_connected_accounts": True}), 401, "INSUFFICIENT_ACCESS_TYPE",
                {"actual_access_type", "allowed_access_types"})

    # switching connected accounts off hides the account from /connected-accounts and its token endpoint
    r = call(oemu, "PATCH", f"/oauth-providers/me/{account['id']}", token=at, json={"allow_connected_accounts": False})
    assert r.status_code == 200 and r.json()["allow_connected_accounts"] is False
    providers = [i["provider"] for i in call(oemu, "GET", "/connected-accounts/me", token=at).json()["items"]]
    assert providers == ["google"]
    known_error(call(oemu, "POST", f"/connected-accounts/me/github/{email}/access-token", token=at, json={}), 400,
                "OAUTH_CONNECTION_NOT_CONNECTED_TO_USER")
    text_error(call(oemu, "GET", f"/oauth-providers/{other['id']}/{account['id']}", token=at), 403)
    text_error(call(oemu, "GET", f"/oauth-providers/{user_id}/{uuid.uuid4()}", access="server"), 404)

    assert call(oemu, "DELETE", f"/oauth-providers/me/{created['id']}", token=at).json() == {"success": True}
    assert [p["id"] for p in me(oemu, at)["oauth_providers"]] == ["github"]
    assert len(call(oemu, "GET", "/oauth-providers", access="server").json()["items"]) >= 1


# ---- the simulated providers themselves ---------------------------------------------------------------------------

def sim_flow(emu, provider_type, email, *, verifier="w" * 60):
    """An app using a simulated provider directly: authorize with PKCE S256, then the token endpoint."""
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    b = browser()
    r = b.get(f"{emu.url}/emulator/oauth/{provider_type}/authorize", params={
        "client_id": "my-app", "redirect_uri": "http://localhost:4000/cb", "response_type": "code",
        "scope": "openid email", "state": "s", "nonce": "n-1", "code_challenge": challenge,
        "code_challenge_method": "S256", "emulator_login": email, "emulator_name": "Sim User"})
    assert r.status_code == 303, r.text
    code = query_of(r.headers["location"])["code"]
    token = b.post(f"{emu.url}/emulator/oauth/{provider_type}/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:4000/cb",
        "client_id": "my-app", "client_secret": "anything", "code_verifier": verifier})
    return code, token


@pytest.mark.parametrize("provider_type", OIDC_TYPES)
def test_oidc_providers_sign_id_tokens(oemu, provider_type):
    email = fresh_email()
    base = f"{oemu.url}/emulator/oauth/{provider_type}"
    discovery = browser().get(base + "/.well-known/openid-configuration").json()
    assert discovery["issuer"] == base and discovery["jwks_uri"] == base + "/jwks"
    _, token = sim_flow(oemu, provider_type, email)
    assert token.status_code == 200, token.text
    body = token.json()
    keys = jwt.PyJWKClient(discovery["jwks_uri"]).get_signing_key_from_jwt(body["id_token"])
    claims = jwt.decode(body["id_token"], keys.key, algorithms=["ES256"], audience="my-app", issuer=base)
    assert claims["sub"] == email and claims["email"] == email and claims["nonce"] == "n-1"
    assert claims["name"] == "Sim User"


def test_simulated_provider_endpoints(oemu):
    email = fresh_email()
    code, token = sim_flow(oemu, "spotify", email)
    body = token.json()
    assert "id_token" not in body and body["token_type"] == "Bearer" and body["refresh_token"]
    with browser() as c:
        info = c.get(f"{oemu.url}/emulator/oauth/spotify/userinfo",
                     headers={"authorization": f"Bearer {body['access_token']}"}).json()
        assert info == {"id": email, "display_name": "Sim User", "email": email, "images": []}
        assert c.get(f"{oemu.url}/emulator/oauth/spotify/userinfo").status_code == 401
        again = c.post(f"{oemu.url}/emulator/oauth/spotify/token", data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:4000/cb",
            "client_id": "my-app", "code_verifier": "w" * 60})
        assert again.status_code == 400 and again.json()["error"] == "invalid_grant"
        refreshed = c.post(f"{oemu.url}/emulator/oauth/spotify/token", auth=("my-app", "x"), data={
            "grant_type": "refresh_token", "refresh_token": body["refresh_token"]})
        assert refreshed.status_code == 200 and refreshed.json()["access_token"] != body["access_token"]
        assert c.get(f"{oemu.url}/emulator/oauth/spotify/.well-known/openid-configuration").status_code == 404
        assert c.get(f"{oemu.url}/emulator/oauth/myspace/authorize").status_code == 404
    _, bad = sim_flow(oemu, "github", email, verifier="z" * 60)
    assert bad.status_code == 200  # control: the right verifier works
    b = browser()
    r = b.get(f"{oemu.url}/emulator/oauth/github/authorize", params={"redirect_uri": "http://localhost:4000/cb",
                                                                        "code_challenge": "abc",
                                                                        "code_challenge_method": "plain",
                                                                        "emulator_login": email})
    code = query_of(r.headers["location"])["code"]
    r = b.post(f"{oemu.url}/emulator/oauth/github/token", data={"grant_type": "authorization_code", "code": code,
                                                                "code_verifier": "wrong"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_page_offers_known_and_configured_identities(oemu):
    email = fresh_email("seen")
    sign_in(oemu, "google", email)
    b = browser()
    location = provider_location(b, oemu, "google")
    page = b.get(location).text
    assert "Pre Defined" in page and "predefined@example.com" in page  # from emulatorIdentities in the config
    assert email in page  # used before
    q = query_of(location)
    r = b.post(location.split("?")[0], data={**{k: q[k] for k in ("client_id", "redirect_uri", "response_type",
                                                                  "scope", "state", "code_challenge",
                                                                  "code_challenge_method")},
                                             "action": "grant", "identity": "g-1001"})
    assert r.status_code == 303
    r = b.get(r.headers["location"])
    user = me(oemu, exchange(oemu, query_of(r.headers["location"])["code"]).json()["access_token"])
    assert user["primary_email"] == "predefined@example.com" and user["display_name"] == "Pre Defined"
    assert user["oauth_providers"][0]["account_id"] == "g-1001"


def test_config_identities_are_validated(tmp_path):
    path = write_config({"auth": {"oauth": {"providers": {"github": {
        "type": "github", "emulatorIdentities": {"1": {"email": 5}}}}}}})
    with pytest.raises(RuntimeError) as failed:
        start_emulator(config=path)
    assert "emulatorIdentities.1.email: expected a string" in str(failed.value)


def test_server_created_user_with_oauth_providers_signs_in(oemu):
    account_id = f"gh-{uuid.uuid4().hex[:8]}"
    user = create_user(oemu, oauth_providers=[{"id": "github", "account_id": account_id, "email": "x@example.com"}])
    assert user["oauth_providers"] == [{"id": "github", "account_id": account_id, "email": "x@example.com"}]
    tokens = sign_in(oemu, "github", account_id)
    assert tokens["is_new_user"] is False and me(oemu, tokens["access_token"])["id"] == user["id"]
    text_error(call(oemu, "POST", "/users", access="server",
                    json={"oauth_providers": [{"id": "nope", "account_id": "1", "email": None}]}), 400,
               "OAuth provider nope not found")


# ---- native Apple sign-in ---------------------------------------------------------------------------------------------

def apple_id_token(emu, email: str, bundle_id: str = "com.example.ios.app") -> str:
    """What a native app would get from the simulated Apple provider, asking as its Bundle ID."""
    b = browser()
    r = b.get(f"{emu.url}/emulator/oauth/apple/authorize", params={
        "client_id": bundle_id, "redirect_uri": "http://localhost:4000/cb", "scope": "name email",
        "emulator_login": email})
    code = query_of(r.headers["location"])["code"]
    t = b.post(f"{emu.url}/emulator/oauth/apple/token", data={"grant_type": "authorization_code", "code": code,
                                                               "client_id": bundle_id})
    assert t.status_code == 200, t.text
    return t.json()["id_token"]


def test_apple_native_sign_in(oemu):
    path = "/auth/oauth/callback/apple/native"
    known_error(call(oemu, "POST", path, json={"id_token": "fake-token"}), 400, "APPLE_BUNDLE_ID_NOT_CONFIGURED")
    known_error(call(oemu, "POST", path, json={}), 400, "SCHEMA_ERROR", {"message"})
    config = json.loads(json.dumps(BASE_CONFIG))
    config["auth"]["oauth"]["providers"]["apple"]["appleBundles"] = {"ios": {"bundleId": "com.example.ios.app"}}
    set_config(oemu, config)
    try:
        known_error(call(oemu, "POST", path, json={"id_token": "invalid-jwt-token"}), 400, "INVALID_APPLE_CREDENTIALS")
        email = fresh_email("apple")
        # an ID token for another audience (the web Services ID) or from another provider is refused
        known_error(call(oemu, "POST", path, json={"id_token": apple_id_token(oemu, email, "com.example.web")}), 400,
                    "INVALID_APPLE_CREDENTIALS")
        _, google = sim_flow(oemu, "google", email)
        known_error(call(oemu, "POST", path, json={"id_token": google.json()["id_token"]}), 400,
                    "INVALID_APPLE_CREDENTIALS")

        r = call(oemu, "POST", path, json={"id_token": apple_id_token(oemu, email)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"access_token", "refresh_token", "user_id", "is_new_user"} and body["is_new_user"] is True
        user = me(oemu, body["access_token"])
        assert user["id"] == body["user_id"] and user["primary_email"] == email
        assert user["oauth_providers"] == [{"id": "apple", "account_id": email, "email": email}]
        again = call(oemu, "POST", path, json={"id_token": apple_id_token(oemu, email)}).json()
        assert again["is_new_user"] is False and again["user_id"] == body["user_id"]
        assert call(oemu, "POST", path, access="server", json={"id_token": apple_id_token(oemu, email)}).status_code == 200
        known_error(call(oemu, "POST", path, access=None, json={"id_token": "x"}), 400, "ACCESS_TYPE_REQUIRED")

        del config["auth"]["oauth"]["providers"]["apple"]
        set_config(oemu, config)
        known_error(call(oemu, "POST", path, json={"id_token": "x"}), 400, "OAUTH_PROVIDER_NOT_FOUND_OR_NOT_ENABLED")
    finally:
        set_config(oemu, BASE_CONFIG)
