"""The simulated provider's sign-in page in headless Chromium: the platform's authorize redirects the browser to it,
an identity is entered and granted, and the browser lands on the app's redirect URL with a code that signs in.
A screenshot of the page is saved to tests/artifacts/oauth-signin.png."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest

from support import start_emulator
from test_inbox_ui import CHROMIUM, page  # noqa: F401  (the CDP page fixture)
from wire import call, fresh_email, write_config

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture
def emulator():
    e = start_emulator(config=write_config({"auth": {"oauth": {"providers": {
        "github": {"type": "github", "allowSignIn": True, "allowConnectedAccounts": True}}}}}))
    yield e
    e.stop()


def test_sign_in_page_in_a_browser(emulator, page):  # noqa: F811
    app_callback = f"{emulator.url}/inbox"  # a page that exists on a trusted (local) origin stands in for the app
    query = {"client_id": emulator.project_id, "client_secret": emulator.pck, "redirect_uri": app_callback,
             "scope": "legacy", "state": "browser-state", "grant_type": "authorization_code",
             "code_challenge": "some-code-challenge", "code_challenge_method": "plain", "response_type": "code"}
    page.call("Page.navigate", url=f"{emulator.api}/auth/oauth/authorize/github?{urlencode(query)}")
    page.wait_for("document.getElementById('email') && location.pathname === '/emulator/oauth/github/authorize'",
                  "the provider's sign-in page")
    assert "Sign in with GitHub" in page.eval("document.body.innerText")
    assert "Local Emulator: hexclave.config.py" in page.eval("document.body.innerText")
    email = fresh_email("browser")
    page.eval(f"document.getElementById('email').value = {email!r};"
              "document.getElementById('name').value = 'Grace Hopper'; true")
    page.screenshot(ARTIFACTS / "oauth-signin.png")
    page.eval("document.getElementById('grant').click(); true")
    href = page.wait_for(f"location.href.startsWith({app_callback + '?'!r}) && location.href",
                         "the browser to land on the app's redirect URL")
    params = {k: v[0] for k, v in parse_qs(urlsplit(href).query).items()}
    assert params.keys() == {"code", "state"} and params["state"] == "browser-state"

    with httpx.Client() as c:
        tokens = c.post(f"{emulator.api}/auth/oauth/token", data={
            "grant_type": "authorization_code", "client_id": emulator.project_id, "client_secret": emulator.pck,
            "code": params["code"], "redirect_uri": app_callback, "code_verifier": "some-code-challenge"}).json()
    user = call(emulator, "GET", "/users/me", token=tokens["access_token"]).json()
    assert user["primary_email"] == email and user["display_name"] == "Grace Hopper"
    assert user["oauth_providers"] == [{"id": "github", "account_id": email, "email": email}]
