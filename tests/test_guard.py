"""The ways in (issue 17): Host check, cross-site browser origins, the simulated provider's redirect_uri."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from support import INTERNAL_PCK, INTERNAL_SAK, start_emulator

EVIL = "https://evil.example.com"


def raw(emu, method: str, path: str, **kw) -> httpx.Response:
    with httpx.Client(base_url=emu.url, timeout=10) as http:
        return http.request(method, path, **kw)


@pytest.mark.parametrize("host", ["evil.example.com", "evil.example.com:26701", "127.0.0.1.nip.io", "0x7f.evil"])
def test_foreign_host_names_are_refused(emu, host):
    for path in ("/api/v1/projects/current", "/api/v1/emulator/inbox/messages", "/inbox", "/"):
        response = raw(emu, "GET", path, headers={"host": host})
        assert response.status_code == 403, (path, response.text)
        assert "is not allowed" in response.text


@pytest.mark.parametrize("host", ["localhost", "localhost:8102", "127.0.0.1", "127.0.0.2:99", "[::1]:8102",
                                  "app.localhost", "LOCALHOST", "localhost.:80"])
def test_loopback_host_names_are_served(emu, host):
    assert raw(emu, "GET", "/api/v1/emulator/clock", headers={"host": host}).status_code == 200


def test_configured_public_host_is_served():
    e = start_emulator(env={"HEXCLAVE_PUBLIC_HOST": "emulator.test, other.test"})
    try:
        for host in ("emulator.test", "other.test:443"):
            assert raw(e, "GET", "/api/v1/emulator/clock", headers={"host": host}).status_code == 200
        assert raw(e, "GET", "/api/v1/emulator/clock", headers={"host": "third.test"}).status_code == 403
        # a page on the public host may use the emulator's own routes
        assert raw(e, "GET", "/api/v1/emulator/clock", headers={"origin": "https://emulator.test"}).status_code == 200
    finally:
        e.stop()


def internal_admin_headers() -> dict[str, str]:
    return {"x-stack-access-type": "admin", "x-stack-project-id": "internal",
            "x-stack-super-secret-admin-key": INTERNAL_SAK}


@pytest.mark.parametrize("method, path", [
    ("GET", "/api/v1/emulator/inbox/messages"), ("DELETE", "/api/v1/emulator/inbox/messages"),
    ("GET", "/api/latest/emulator/inbox/messages"), ("POST", "/api/v1/emulator/clock/advance"),
    ("GET", "/api/v1/emulator/clock"), ("GET", "/api/v1/mailbox/someone"),
    ("POST", "/api/v1/internal/local-emulator/project"), ("POST", "/emulator/oauth/github/authorize"),
    ("POST", "/purchase/some-code"), ("OPTIONS", "/api/v1/emulator/inbox/messages"),
])
def test_cross_site_pages_cannot_use_the_emulators_own_routes(emu, method, path):
    response = raw(emu, method, path, headers={"origin": EVIL, "content-type": "application/json"}, content=b"{}")
    assert response.status_code == 403, response.text
    assert "may not use the emulator's own routes" in response.text
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize("origin", ["null", "http://localhost.evil.example.com", "http://127.0.0.1.evil.example.com"])
def test_opaque_and_lookalike_origins_are_cross_site(emu, origin):
    assert raw(emu, "GET", "/api/v1/emulator/inbox/messages", headers={"origin": origin}).status_code == 403


def test_the_emulators_own_pages_post_with_a_null_origin(emu):
    """Its pages send no referrer, so browsers send `Origin: null` on their form posts; Sec-Fetch-Site (which pages
    cannot forge) says they are same-origin."""
    same_origin = {"origin": "null", "sec-fetch-site": "same-origin", "content-type": "application/json"}
    assert raw(emu, "POST", "/api/v1/emulator/clock/advance", headers=same_origin, content=b'{"seconds": 0}'
               ).status_code == 200
    cross_site = {**same_origin, "sec-fetch-site": "cross-site"}
    assert raw(emu, "POST", "/api/v1/emulator/clock/advance", headers=cross_site, content=b'{"seconds": 0}'
               ).status_code == 403


def test_cross_site_pages_cannot_use_admin_access(emu):
    for headers in (internal_admin_headers(), {"x-hexclave-access-type": "ADMIN", "x-hexclave-project-id": "internal"},
                    {"x-stack-admin-access-token": "anything"}):
        response = raw(emu, "GET", "/api/v1/internal/projects", headers={"origin": EVIL, **headers})
        assert response.status_code == 403, response.text
        assert "may not use admin access" in response.text
    # the same request without an Origin (a tool, the SDK on a server) or from loopback pages works
    assert raw(emu, "GET", "/api/v1/internal/api-keys", headers=internal_admin_headers()).status_code == 200
    for origin in ("http://localhost:3000", "http://127.0.0.1:5173", "http://[::1]:8080", "http://app.localhost"):
        response = raw(emu, "GET", "/api/v1/internal/api-keys", headers={"origin": origin, **internal_admin_headers()})
        assert response.status_code == 200, (origin, response.text)


def test_cross_site_pages_keep_the_platforms_cors_on_client_routes(emu):
    headers = {"origin": EVIL, "x-stack-access-type": "client", "x-stack-project-id": emu.project_id,
               "x-stack-publishable-client-key": emu.pck}
    response = raw(emu, "GET", "/api/v1/projects/current", headers=headers)
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    preflight = raw(emu, "OPTIONS", "/api/v1/users/me", headers={
        "origin": EVIL, "access-control-request-method": "PATCH",
        "access-control-request-headers": "x-stack-access-type"})
    assert preflight.status_code == 200 and preflight.headers["access-control-allow-origin"] == "*"
    # pages are readable as before: GET navigations carry no Origin
    assert raw(emu, "GET", "/inbox").status_code == 200


def test_loopback_pages_use_the_emulators_own_routes(emu):
    for origin in ("http://localhost:3000", emu.url):
        assert raw(emu, "GET", "/api/v1/emulator/inbox/messages", headers={"origin": origin}).status_code == 200


# ---- the simulated provider's redirect_uri ------------------------------------------------------------------------

@pytest.mark.parametrize("redirect_uri", [
    "javascript:alert(document.cookie)", "data:text/html,hi", "https://evil.example.com/cb", "myapp://cb",
    "//evil.example.com/cb", "http://evil.example.com/api/v1/auth/oauth/callback/github",
])
def test_simulated_provider_refuses_untrusted_redirect_uris(emu, redirect_uri):
    params = {"client_id": "x", "redirect_uri": redirect_uri, "response_type": "code", "emulator_login": "a@b.com"}
    page = raw(emu, "GET", "/emulator/oauth/github/authorize", params=params)
    assert page.status_code == 400 and "location" not in page.headers
    submit = raw(emu, "POST", "/emulator/oauth/github/authorize",
                 data={**params, "action": "grant", "email": "a@b.com"})
    assert submit.status_code == 400 and "location" not in submit.headers


@pytest.mark.parametrize("redirect_uri", [
    "http://localhost:9999/cb", "http://127.0.0.1:4000/auth/callback", "{emulator}/api/v1/auth/oauth/callback/github",
])
def test_simulated_provider_redirects_to_callbacks_and_trusted_urls(emu, redirect_uri):
    redirect_uri = redirect_uri.format(emulator=emu.url)
    params = {"client_id": "x", "redirect_uri": redirect_uri, "response_type": "code", "emulator_login": "a@b.com",
              "state": "s1"}
    response = raw(emu, "GET", "/emulator/oauth/github/authorize", params=params)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(redirect_uri + "?")
    assert parse_qs(urlsplit(location).query)["state"] == ["s1"]


def test_localhost_redirects_follow_the_projects_allow_localhost(tmp_path):
    config = tmp_path / "hexclave.config.py"
    config.write_text("config = {'domains': {'allowLocalhost': False, 'trustedDomains': {'a': "
                      "{'baseUrl': 'https://app.example.com'}}}}\n")
    e = start_emulator(config=config)
    try:
        def authorize(uri):
            return raw(e, "GET", "/emulator/oauth/github/authorize", params={
                "client_id": "x", "redirect_uri": uri, "response_type": "code", "emulator_login": "a@b.com"})
        assert authorize("http://localhost:9999/cb").status_code == 400
        assert authorize("https://app.example.com/cb").status_code == 303
        assert authorize("http://app.example.com/cb").status_code == 400  # scheme must match the trusted domain
    finally:
        e.stop()


def test_internal_key_cannot_load_files_from_a_cross_site_page(emu, tmp_path):
    config = tmp_path / "hexclave.config.py"
    config.write_text("config = {}\n")
    headers = {"x-stack-access-type": "client", "x-stack-project-id": "internal",
               "x-stack-publishable-client-key": INTERNAL_PCK}
    body = {"absolute_file_path": str(config)}
    assert raw(emu, "POST", "/api/v1/internal/local-emulator/project", json=body,
               headers={**headers, "origin": EVIL}).status_code == 403
    assert raw(emu, "POST", "/api/v1/internal/local-emulator/project", json=body, headers=headers).status_code == 200
