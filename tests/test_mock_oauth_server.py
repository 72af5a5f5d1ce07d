"""The optional second port (--mock-oauth-port / HEXCLAVE_EMULATOR_MOCK_OAUTH_PORT) answering like the reference's
development mock OAuth server, over real HTTP: the e2e helper's redirect hops (contract-flows.md §1.9) from the
platform's authorize to its inner callback, the mock's own token / userinfo / JWKS endpoints, simulated refresh
errors and the revocation routes, and which providers go there.

Reference: apps/mock-oauth-server/src/index.ts, apps/e2e/tests/backend/backend-helpers.ts (Auth.OAuth.*),
apps/backend/src/oauth/providers/mock.tsx.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest

from support import free_port, start_emulator
from wire import call, fresh_email, known_error, write_config

SECRET = "MOCK-SERVER-SECRET"
REDIRECT = "http://stack-test.localhost/some-callback-url"
CONFIG = {
    "auth": {"allowSignUp": True, "oauth": {"accountMergeStrategy": "link_method", "providers": {
        "spotify": {"type": "spotify", "allowSignIn": True, "allowConnectedAccounts": True},
        "github": {"type": "github", "allowSignIn": True, "allowConnectedAccounts": True},
        "apple": {"type": "apple", "allowSignIn": True, "allowConnectedAccounts": True},
        "own-google": {"type": "google", "isShared": False, "clientId": "my-client", "clientSecret": "s3cret",
                       "allowSignIn": True, "allowConnectedAccounts": True},
    }}},
    "domains": {"allowLocalhost": True, "trustedDomains": {"t": {"baseUrl": "http://stack-test.localhost"}}},
}


@pytest.fixture(scope="module")
def memu():
    port = free_port()
    e = start_emulator("--mock-oauth-port", str(port), config=write_config(CONFIG))
    e.mock_port = port
    e.mock = f"http://localhost:{port}"
    e.local = f"http://localhost:{e.port}"  # the e2e suite talks to localhost, and the hops must stay there
    yield e
    e.stop()


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def cookie_header(*responses: httpx.Response) -> str:
    """What the e2e helper's updateCookiesFromResponse sends: every cookie set so far, paths ignored."""
    jar: dict[str, str] = {}
    for r in responses:
        for line in r.headers.get_list("set-cookie"):
            name, _, rest = line.partition("=")
            jar[name] = rest.split(";")[0]
    return "; ".join(f"{k}={v}" for k, v in jar.items())


def platform_authorize(emu, provider: str = "spotify", **extra) -> httpx.Response:
    q = {"client_id": emu.project_id, "client_secret": emu.pck, "redirect_uri": REDIRECT, "scope": "legacy",
         "response_type": "code", "state": "this-is-some-state", "grant_type": "authorization_code",
         "code_challenge": "some-code-challenge", "code_challenge_method": "plain",
         "bot_challenge_token": "mock-turnstile-ok:oauth_authenticate", **extra}
    return httpx.get(f"{emu.local}/api/v1/auth/oauth/authorize/{provider}", params=q)


def walk_to_inner_callback(emu, email: str, provider: str = "spotify") -> tuple[httpx.Response, str]:
    """Auth.OAuth.getInnerCallbackUrl, hop by hop. Returns the authorize response and the inner callback URL."""
    authorize = platform_authorize(emu, provider)
    assert authorize.status_code == 307, authorize.text
    auth_location = authorize.headers["location"]
    assert auth_location.startswith(f"{emu.mock}/auth?")
    assert any(c.startswith("stack-oauth-inner-") for c in authorize.cookies)

    r1 = httpx.get(auth_location)
    assert r1.status_code == 303
    interaction = httpx.URL(auth_location).join(r1.headers["location"])
    assert interaction.path.startswith("/interaction/")
    login = httpx.post(interaction, data={"prompt": "login", "login": email, "password": "anything"},
                       headers={"cookie": cookie_header(r1)})
    assert login.status_code == 303, login.text
    r2 = httpx.get(interaction.join(login.headers["location"]), headers={"cookie": cookie_header(r1, login)})
    assert r2.status_code == 303, r2.text
    consent = httpx.URL(auth_location).join(r2.headers["location"])
    assert consent.path.startswith("/interaction/") and consent != interaction
    r3 = httpx.post(consent, data={"prompt": "consent"}, headers={"cookie": cookie_header(r1, login, r2)})
    assert r3.status_code == 303, r3.text
    r4 = httpx.get(httpx.URL(auth_location).join(r3.headers["location"]),
                   headers={"cookie": cookie_header(r1, login, r2, r3)})
    assert r4.status_code == 303, r4.text
    # Redirects answering a GET carry a short text page; those answering the interaction's form POSTs are bare.
    for redirect in (r1, r2, r4):
        assert redirect.headers["content-type"].startswith("text/") and redirect.text
    for redirect in (login, r3):
        assert redirect.content == b"" and "content-type" not in redirect.headers
    assert re.fullmatch(r"stack-oauth-inner-[^;]+=[^;]+; Path=/; Expires=[^;]+; Max-Age=\d+;( Secure;)? HttpOnly",
                        authorize.headers["set-cookie"])
    return authorize, r4.headers["location"]


def platform_sign_in(emu, email: str, provider: str = "spotify") -> dict:
    authorize, inner = walk_to_inner_callback(emu, email, provider)
    r = httpx.get(inner, cookies=authorize.cookies)
    assert r.status_code == 303, r.text
    outer = query_of(r.headers["location"])
    assert r.headers["location"].startswith(REDIRECT + "?")
    assert outer.keys() == {"code", "state"} and outer["state"] == "this-is-some-state"
    t = httpx.post(f"{emu.api}/auth/oauth/token", data={
        "client_id": emu.project_id, "client_secret": emu.pck, "code": outer["code"], "redirect_uri": REDIRECT,
        "code_verifier": "some-code-challenge", "grant_type": "authorization_code"})
    assert t.status_code == 200, t.text
    return t.json()


# ---- the platform through the mock server ---------------------------------------------------------------------------

def test_e2e_hops_end_at_the_inner_callback_and_sign_in(memu):
    email = fresh_email("mock")
    authorize, inner = walk_to_inner_callback(memu, email)
    q = query_of(authorize.headers["location"])
    assert q["client_id"] == "spotify" and q["scope"] == "openid offline_access"
    assert q["redirect_uri"] == f"{memu.local}/api/v1/auth/oauth/callback/spotify"
    assert inner.startswith(f"{memu.local}/api/v1/auth/oauth/callback/spotify?")
    assert query_of(inner).keys() == {"code", "state", "iss"} and query_of(inner)["iss"] == memu.mock

    r = httpx.get(inner, cookies=authorize.cookies)
    assert r.status_code == 303, r.text
    outer = query_of(r.headers["location"])
    assert outer.keys() == {"code", "state"} and outer["state"] == "this-is-some-state"
    t = httpx.post(f"{memu.api}/auth/oauth/token", data={
        "client_id": memu.project_id, "client_secret": memu.pck, "code": outer["code"], "redirect_uri": REDIRECT,
        "code_verifier": "some-code-challenge", "grant_type": "authorization_code"})
    assert t.status_code == 200, t.text
    assert t.json()["scope"] == "legacy" and t.json()["is_new_user"] is True
    user = call(memu, "GET", "/users/me", token=t.json()["access_token"]).json()
    # The reference's mock provider: the account id is the email, always verified (even for Spotify), no name.
    assert user["primary_email"] == email and user["primary_email_verified"] is True
    assert user["oauth_providers"] == [{"id": "spotify", "account_id": email, "email": email}]
    assert user["auth_with_email"] is False and user["display_name"] is None

    again = platform_sign_in(memu, email)
    assert again["is_new_user"] is False
    assert call(memu, "GET", "/users/me", token=again["access_token"]).json()["id"] == user["id"]


def test_only_shared_providers_of_mock_client_types_go_to_the_mock_server(memu):
    assert platform_authorize(memu, "github").headers["location"].startswith(f"{memu.mock}/auth?")
    for provider, sim_type in (("apple", "apple"), ("own-google", "google")):
        location = platform_authorize(memu, provider).headers["location"]
        assert location.startswith(f"{memu.local}/emulator/oauth/{sim_type}/authorize?"), location
    json_mode = platform_authorize(memu, "spotify", stack_response_mode="json")
    assert json_mode.status_code == 200 and json_mode.json()["location"].startswith(f"{memu.mock}/auth?")


def test_browser_path_login_page_auto_consent_and_emulator_login(memu):
    email = fresh_email("page")
    platform_sign_in(memu, email)  # now a previously used account of the spotify client
    authorize = platform_authorize(memu)
    with httpx.Client(follow_redirects=False) as browser:  # keeps cookies per path, as a browser does
        r = browser.get(authorize.headers["location"])
        page = browser.get(httpx.URL(authorize.headers["location"]).join(r.headers["location"]))
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        uid = page.url.path.rsplit("/", 1)[1]
        assert f'action="/interaction/{uid}/login"' in page.text and 'name="login"' in page.text
        assert f'data-login="{email}"' in page.text
        assert "Local Emulator: hexclave.config.py" in page.text  # the project signing in
        login = browser.post(f"{memu.mock}/interaction/{uid}/login", data={"login": email})
        resumed = browser.get(f"{memu.mock}{login.headers['location']}")
        consent = browser.get(f"{memu.mock}{resumed.headers['location']}")  # GET: approved at once
        assert consent.status_code == 303 and consent.headers["location"].startswith("/auth/")
        done = browser.get(f"{memu.mock}{consent.headers['location']}")
        assert done.status_code == 303 and done.headers["location"].startswith(f"{memu.local}/api/v1/auth/oauth/callback/spotify?")

    # The emulator's non-interactive hint works here too: straight back to the inner callback.
    quick = httpx.get(platform_authorize(memu).headers["location"] + "&emulator_login=" + email)
    assert quick.status_code == 303 and "/api/v1/auth/oauth/callback/spotify?code=" in quick.headers["location"]


def test_abort_and_lost_sessions(memu):
    authorize = platform_authorize(memu, error_redirect_uri="http://stack-test.localhost/error")
    r1 = httpx.get(authorize.headers["location"])
    uid = r1.headers["location"].rsplit("/", 1)[1]
    assert httpx.get(f"{memu.mock}/interaction/{uid}").status_code == 410  # no interaction cookie
    assert httpx.get(f"{memu.mock}/interaction/nope", headers={"cookie": "_interaction=nope"}).text == \
        "Session not found or expired"
    aborted = httpx.get(f"{memu.mock}/interaction/{uid}/abort", headers={"cookie": cookie_header(r1)})
    assert aborted.status_code == 303
    back = httpx.get(f"{memu.mock}{aborted.headers['location']}", headers={"cookie": cookie_header(r1)})
    assert back.status_code == 303
    assert query_of(back.headers["location"])["error"] == "access_denied"
    err = httpx.get(back.headers["location"], cookies=authorize.cookies)
    assert err.status_code == 307
    assert query_of(err.headers["location"])["errorCode"] == "OAUTH_PROVIDER_ACCESS_DENIED"
    # the finished interaction is gone
    assert httpx.get(f"{memu.mock}{aborted.headers['location']}", headers={"cookie": cookie_header(r1)}).status_code == 410


# ---- the mock server's own endpoints, as an OAuth client sees them --------------------------------------------------

def client_code(emu, email: str, client_id: str = "github", scope: str = "openid offline_access email") -> tuple[str, str]:
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    r = httpx.get(f"{emu.mock}/auth", params={
        "client_id": client_id, "redirect_uri": "http://localhost:9999/cb", "response_type": "code", "scope": scope,
        "state": "s1", "code_challenge": challenge, "code_challenge_method": "S256", "emulator_login": email})
    assert r.status_code == 303, r.text
    q = query_of(r.headers["location"])
    assert q["state"] == "s1"
    return q["code"], verifier


def token(emu, auth=("github", SECRET), **form) -> httpx.Response:
    return httpx.post(f"{emu.mock}/token", data=form, auth=auth)


def test_discovery_token_userinfo_and_id_token(memu):
    doc = httpx.get(f"{memu.mock}/.well-known/openid-configuration").json()
    assert doc["issuer"] == memu.mock
    assert {doc[k] for k in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                             "revocation_endpoint", "end_session_endpoint")} == {
        f"{memu.mock}{p}" for p in ("/auth", "/token", "/me", "/jwks", "/token/revocation", "/session/end")}

    email = fresh_email("client")
    code, verifier = client_code(memu, email)
    common = {"grant_type": "authorization_code", "code": code, "redirect_uri": "http://localhost:9999/cb",
              "code_verifier": verifier}
    assert token(memu, auth=("github", "wrong"), **common).json()["error"] == "invalid_client"
    assert token(memu, auth=("github", "wrong"), **common).status_code == 401
    t = token(memu, **common)
    assert t.status_code == 200, t.text
    body = t.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] > 0 and body["refresh_token"]
    assert token(memu, **common).json()["error"] == "invalid_grant"  # single use

    keys = httpx.get(f"{memu.mock}/jwks").json()["keys"]
    kid = jwt.get_unverified_header(body["id_token"])["kid"]
    key = jwt.algorithms.ECAlgorithm.from_jwk(json.dumps(next(k for k in keys if k["kid"] == kid)))
    claims = jwt.decode(body["id_token"], key, algorithms=["ES256"], audience="github",
                        options={"verify_exp": False, "verify_iat": False})
    assert claims["iss"] == memu.mock and claims["sub"] == email

    me = httpx.get(f"{memu.mock}/me", headers={"authorization": f"Bearer {body['access_token']}"})
    assert me.json() == {"sub": email, "email": email}
    assert httpx.get(f"{memu.mock}/me", headers={"authorization": "Bearer nope"}).status_code == 401

    # client_secret_post works as well as basic; refresh gives a new access token
    r = httpx.post(f"{memu.mock}/token", data={"grant_type": "refresh_token", "refresh_token": body["refresh_token"],
                                                "client_id": "github", "client_secret": SECRET})
    assert r.status_code == 200, r.text
    assert r.json()["access_token"] != body["access_token"]
    assert httpx.get(f"{memu.mock}/auth", params={"client_id": "linkedin", "redirect_uri": "http://x/cb"}).status_code == 400


def test_simulate_refresh_error(memu):
    code, verifier = client_code(memu, fresh_email("err"))
    t = token(memu, grant_type="authorization_code", code=code, redirect_uri="http://localhost:9999/cb",
              code_verifier=verifier).json()
    sim = f"{memu.mock}/simulate-refresh-error"
    assert httpx.post(sim, json={}).json()["error"] == "invalid_request"
    assert httpx.post(sim, json={"token": "nope", "error_type": "invalid_grant"}).json()["error"] == "invalid_token"
    bad = httpx.post(sim, json={"token": t["access_token"], "error_type": "nonsense"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_request"
    ok = httpx.post(sim, data={"token": t["access_token"], "error_type": "consent_required"})
    assert ok.status_code == 200 and ok.json()["success"] is True
    failed = token(memu, grant_type="refresh_token", refresh_token=t["refresh_token"])
    assert failed.status_code == 400 and failed.json()["error"] == "consent_required"
    assert token(memu, grant_type="refresh_token", refresh_token=t["refresh_token"]).status_code == 200  # once only


def test_revocation_routes(memu):
    code, verifier = client_code(memu, fresh_email("rev"))
    t = token(memu, grant_type="authorization_code", code=code, redirect_uri="http://localhost:9999/cb",
              code_verifier=verifier).json()
    me = lambda at: httpx.get(f"{memu.mock}/me", headers={"authorization": f"Bearer {at}"}).status_code  # noqa: E731

    assert httpx.post(f"{memu.mock}/revoke-access-token", json={}).status_code == 400
    r = httpx.post(f"{memu.mock}/revoke-access-token", json={"token": t["access_token"]})
    assert r.json()["success"] is True and me(t["access_token"]) == 401
    fresh = token(memu, grant_type="refresh_token", refresh_token=t["refresh_token"]).json()["access_token"]
    assert me(fresh) == 200

    assert httpx.post(f"{memu.mock}/revoke-refresh-token", json={"token": "nope"}).json()["error"] == "invalid_token"
    r = httpx.post(f"{memu.mock}/revoke-refresh-token", json={"token": fresh})
    assert r.status_code == 200 and r.json()["success"] is True
    assert token(memu, grant_type="refresh_token", refresh_token=t["refresh_token"]).json()["error"] == "invalid_grant"

    code, verifier = client_code(memu, fresh_email("rfc"))
    t = token(memu, grant_type="authorization_code", code=code, redirect_uri="http://localhost:9999/cb",
              code_verifier=verifier).json()
    assert httpx.post(f"{memu.mock}/token/revocation", data={"token": t["access_token"]}).status_code == 401
    r = httpx.post(f"{memu.mock}/token/revocation", data={"token": t["access_token"]}, auth=("github", SECRET))
    assert r.status_code == 200 and me(t["access_token"]) == 401
    assert httpx.get(f"{memu.mock}/session/end").status_code == 200


def test_connected_account_tokens_follow_the_mock_grant(memu):
    tokens = platform_sign_in(memu, fresh_email("conn"))
    at = tokens["access_token"]
    first = call(memu, "POST", "/connected-accounts/me/spotify/access-token", token=at, json={})
    assert first.status_code == 201, first.text
    provider_token = first.json()["access_token"]
    assert httpx.get(f"{memu.mock}/me", headers={"authorization": f"Bearer {provider_token}"}).status_code == 200

    httpx.post(f"{memu.mock}/revoke-access-token", json={"token": provider_token})
    second = call(memu, "POST", "/connected-accounts/me/spotify/access-token", token=at, json={})
    assert second.status_code == 201 and second.json()["access_token"] != provider_token  # refreshed

    httpx.post(f"{memu.mock}/revoke-refresh-token", json={"token": second.json()["access_token"]})
    known_error(call(memu, "POST", "/connected-accounts/me/spotify/access-token", token=at, json={}), 400,
                "OAUTH_CONNECTION_DOES_NOT_HAVE_REQUIRED_SCOPE")


def test_port_from_the_environment_and_off_by_default():
    port = free_port()
    e = start_emulator(env={"HEXCLAVE_EMULATOR_MOCK_OAUTH_PORT": str(port)}, config=write_config(CONFIG))
    try:
        assert any(f":{port} (mock OAuth server)" in line for line in e.banner)
        assert httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration").status_code == 200
    finally:
        e.stop()
    e = start_emulator(config=write_config(CONFIG))
    try:
        assert not any("mock OAuth server" in line for line in e.banner)
        e.local = e.url
        location = platform_authorize(e)
        assert location.headers["location"].startswith(f"{e.url}/emulator/oauth/spotify/authorize?")
    finally:
        e.stop()


def test_busy_port_is_a_clear_start_up_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(RuntimeError) as failed:
            start_emulator("--mock-oauth-port", str(busy.getsockname()[1]), config=write_config(CONFIG))
    assert "could not serve the mock OAuth server on 127.0.0.1:" in str(failed.value)
