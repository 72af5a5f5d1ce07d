"""The dashboard over plain HTTP: cross-site posts refused, the project switcher, missing pages, API errors shown as
notices, the users filters, and a refund of a card purchase. (The browser tests are in test_dashboard_ui.py.)"""
from __future__ import annotations

import json
import re
import uuid
from urllib.parse import unquote

import httpx
import pytest

from test_checkout import new_user as new_buyer
from test_checkout import purchase_path, submit


@pytest.fixture
def browser(emu):
    """A cookie-keeping client on the emulator's pages, posting as a same-origin form would."""
    with httpx.Client(base_url=emu.url, headers={"sec-fetch-site": "same-origin"}, follow_redirects=True,
                      timeout=10) as client:
        yield client


def notice(response: httpx.Response) -> str:
    found = re.search(r'id="notice">\s*<span>(.*?)</span>', response.text, re.S)
    return found.group(1).replace("&#39;", "'").replace("&#34;", '"').replace("&amp;", "&") if found else ""


def new_user(emu, **fields) -> dict:
    with emu.server() as h:
        r = h.post("/users", json={"primary_email": f"d-{uuid.uuid4().hex[:10]}@example.com",
                                   "primary_email_auth_enabled": True, **fields})
        assert r.status_code == 201, r.text
        return r.json()


@pytest.mark.parametrize("headers", [{"sec-fetch-site": "cross-site"}, {"sec-fetch-site": "same-site"},
                                     {"origin": "http://evil.example"}, {"origin": "null"}])
def test_cross_site_posts_are_refused(emu, headers):
    user = new_user(emu, display_name="Untouched")
    r = httpx.post(f"{emu.url}/users/{user['id']}", data={"action": "delete"}, headers=headers)
    assert r.status_code == 403
    with emu.server() as h:
        assert h.get(f"/users/{user['id']}").status_code == 200


def test_same_origin_post_redirects_back_with_a_notice(emu, browser):
    user = new_user(emu)
    r = browser.post(f"/users/{user['id']}?project={emu.project_id}",
                     data={"action": "profile", "display_name": "Renamed", "primary_email": user["primary_email"]},
                     headers={"origin": emu.url})
    assert r.history[0].status_code == 303 and r.url.path == f"/users/{user['id']}"
    assert notice(r) == "Profile saved."
    assert notice(browser.get(f"/users/{user['id']}")) == ""  # shown once
    with emu.server() as h:
        assert h.get(f"/users/{user['id']}").json()["display_name"] == "Renamed"


def test_api_errors_become_error_notices(emu, browser):
    user = new_user(emu)
    r = browser.post("/users", data={"action": "create", "primary_email": user["primary_email"]})
    assert r.url.path == "/users" and 'class="notice notice-error"' in r.text
    assert "USER_EMAIL_ALREADY_EXISTS" in notice(r)
    r = browser.post(f"/users/{user['id']}", data={"action": "metadata", "server_metadata": "{oops"})
    assert notice(r).startswith("server metadata is not valid JSON")
    r = browser.post(f"/users/{user['id']}", data={"action": "no-such-action"})
    assert "Unknown action" in notice(r)
    r = browser.post("/payments", data={"action": "change-item", "customer_type": "user", "customer_id": user["id"],
                                        "item_id": "credits", "delta": "ten"})
    assert r.status_code == 200 and "whole number" in notice(r)
    r = browser.post("/payments", data={"action": "refund", "kind": "one-time-purchase", "transaction_id": "x",
                                        "quantity": "1", "amount_usd": "5"})
    assert "ONE_TIME_PURCHASE_NOT_FOUND" in notice(r)
    r = browser.get("/payments", params={"customer_type": "planet", "customer_id": "x"})
    assert r.status_code == 200 and "customer_type" in r.text


def test_project_switcher_and_missing_pages(emu, browser):
    r = browser.get("/users?project=internal")
    assert r.status_code == 200 and '<option value="internal" selected>' in r.text
    assert f'<option value="{emu.project_id}"' in r.text
    assert browser.get("/").text.count(f'<option value="{emu.project_id}" selected>') == 1  # the default project
    assert browser.get("/users?project=nope").status_code == 404
    assert browser.get(f"/users/{uuid.uuid4()}").status_code == 404
    assert browser.get("/teams/not-a-uuid").status_code == 404
    assert browser.post("/teams?project=nope", data={"action": "create"}).status_code == 404


def test_user_filters(emu, browser):
    marker = uuid.uuid4().hex[:8]
    verified = new_user(emu, display_name=f"{marker} verified", primary_email_verified=True)
    restricted = new_user(emu, display_name=f"{marker} restricted", restricted_by_admin=True)
    plain = new_user(emu, display_name=f"{marker} plain")

    def listed(**query) -> set[str]:
        text = browser.get("/users", params={"q": marker, **query}).text
        return set(re.findall(r'href="/users/([0-9a-f-]{36})\?', text))

    assert listed() == {verified["id"], restricted["id"], plain["id"]}
    assert listed(filter="restricted") == {restricted["id"]}
    assert listed(filter="verified") == {verified["id"]}
    assert listed(filter="unverified") == {restricted["id"], plain["id"]}
    assert listed(filter="signed-up") == {verified["id"], plain["id"]}  # the API's default: no restricted users


def test_users_pages(emu, browser):
    marker = uuid.uuid4().hex[:8]
    ids = [new_user(emu, display_name=f"{marker} {i}")["id"] for i in range(30)]
    first = browser.get("/users", params={"q": marker, "sort": "oldest"})
    on_first = re.findall(r'href="/users/([0-9a-f-]{36})\?', first.text)
    assert on_first == ids[:25]
    next_link = re.search(r'id="next-page" href="([^"]+)"', first.text).group(1)
    second = browser.get(unquote(next_link.replace("&amp;", "&")))
    assert re.findall(r'href="/users/([0-9a-f-]{36})\?', second.text) == ids[25:]
    assert 'id="next-page"' not in second.text


def test_refund_a_card_purchase(emu, browser):
    buyer = new_buyer(emu)
    paid = submit(emu, purchase_path(emu, "credits-pack", buyer["id"]))
    assert paid.status_code in (200, 303), paid.text[:300]
    page = browser.get("/payments", params={"customer_type": "user", "customer_id": buyer["id"]})
    form = re.search(r'<form method="post" action="[^"]*"[^>]*>\s*<input type="hidden" name="action" value="refund">'
                     r'(.*?)</form>', page.text, re.S)
    assert form, "no refund button for the paid purchase"
    fields = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(1)))
    assert fields["kind"] == "one-time-purchase" and fields["amount_usd"] == "5"
    r = browser.post("/payments", data={"action": "refund", **fields})
    assert notice(r) == "Refunded.", notice(r)
    with emu.http("admin", key=admin_key(emu)) as h:
        listing = h.get("/internal/payments/transactions", params={"customer_type": "user"}).json()
    refunded = next(t for t in listing["transactions"] if t["id"] == fields["transaction_id"])
    assert refunded["adjusted_by"], json.dumps(refunded)
    again = browser.get("/payments", params={"customer_type": "user", "customer_id": buyer["id"]})
    assert f'name="transaction_id" value="{fields["transaction_id"]}"' not in again.text  # no second refund button


def admin_key(emu) -> str:
    """The project's admin key, as the overview page shows it."""
    page = httpx.get(emu.url + "/").text
    return re.search(r'id="sak">([^<]+)<', page).group(1)


def test_revokes_removals_and_deletes(emu, browser):
    """The remaining form actions, each read back through the API."""
    user, other = new_user(emu), new_user(emu)
    with emu.server() as h:
        session = h.post("/auth/sessions", json={"user_id": user["id"]}).json()
        team = h.post("/teams", json={"display_name": "To empty", "creator_user_id": user["id"]}).json()
        h.post(f"/team-memberships/{team['id']}/{other['id']}", json={})
        h.post(f"/project-permissions/{user['id']}/read_reports", json={})
        invited = h.post("/team-invitations/send-code", json={
            "team_id": team["id"], "email": "later@example.com",
            "callback_url": "http://localhost:3000/handler/team-invitation"}).json()
        key = h.post("/team-api-keys", json={"team_id": team["id"], "description": "k", "expires_at_millis": None}).json()
        sessions = h.get("/auth/sessions", params={"user_id": user["id"]}).json()["items"]
    session_id = next(s["id"] for s in sessions)
    user_page, team_page = f"/users/{user['id']}", f"/teams/{team['id']}"

    assert notice(browser.post(user_page, data={"action": "revoke-session", "session_id": session_id})) == \
        "Session revoked."
    assert notice(browser.post(user_page, data={"action": "revoke-project-permission", "user_id": user["id"],
                                                "permission_id": "read_reports"})) == "Revoked read_reports."
    assert notice(browser.post(team_page, data={"action": "remove-member", "user_id": other["id"]})) == \
        "Member removed."
    assert notice(browser.post(team_page, data={"action": "revoke-invitation", "invitation_id": invited["id"]})) == \
        "Invitation revoked."
    assert notice(browser.post(team_page, data={"action": "revoke-api-key", "api_key_id": key["id"]})) == \
        "API key revoked."
    with emu.server() as h:
        assert session_id not in {s["id"] for s in h.get("/auth/sessions", params={"user_id": user["id"]}).json()["items"]}
        assert h.get("/project-permissions", params={"user_id": user["id"]}).json()["items"] == []
        assert [u["id"] for u in h.get("/users", params={"team_id": team["id"]}).json()["items"]] == [user["id"]]
        assert h.get("/team-invitations", params={"team_id": team["id"]}).json()["items"] == []
        assert h.post("/team-api-keys/check", json={"api_key": key["value"]}).status_code != 200
    assert session["refresh_token"]

    r = browser.post(team_page, data={"action": "delete"})
    assert r.url.path == "/teams" and notice(r) == "Team deleted."
    r = browser.post(user_page, data={"action": "delete"})
    assert r.url.path == "/users" and notice(r) == "User deleted."
    with emu.server() as h:
        assert h.get(f"/teams/{team['id']}").status_code == 404
        assert h.get(f"/users/{user['id']}").status_code == 404


def test_notices_carry_any_text(emu, browser):
    """The notice travels in a cookie: non-ASCII text and long API messages still arrive."""
    with emu.client() as h:
        before = h.get("/projects/current").json()["display_name"]
    try:
        r = browser.post("/", data={"action": "rename", "display_name": "Acmé ™ — 日本"})
        assert notice(r) == "Project renamed to Acmé ™ — 日本."
        with emu.client() as h:
            assert h.get("/projects/current").json()["display_name"] == "Acmé ™ — 日本"
    finally:
        browser.post("/", data={"action": "rename", "display_name": before})
    r = browser.post("/config", data={"action": "set-key", "key": "x" * 5000, "value": "1"})
    assert r.status_code == 200 and notice(r).endswith("…") and len(notice(r)) <= 1501


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_foreign_host_names_are_refused(emu, method):
    """A site re-pointing its name at 127.0.0.1 (DNS rebinding) cannot read the keys or post forms."""
    r = httpx.request(method, emu.url + "/", headers={"host": f"evil.example:{emu.port}"},
                      data={"action": "rename", "display_name": "pwned"} if method == "POST" else None)
    assert r.status_code == 403 and emu.ssk not in r.text
    for host in (f"localhost:{emu.port}", f"127.0.0.1:{emu.port}", f"app.localhost:{emu.port}"):
        assert httpx.get(emu.url + "/users", headers={"host": host}).status_code == 200


def test_ids_with_special_characters_reach_the_api_intact(emu, browser):
    """Path segments are quoted for the in-process call and decoded by the API: `$` permissions, spaced custom ids."""
    user = new_user(emu)
    with emu.server() as h:
        team = h.post("/teams", json={"display_name": "Dollar", "creator_user_id": user["id"]}).json()
    grant = {"team_id": team["id"], "user_id": user["id"], "permission_id": "$update_team"}
    assert notice(browser.post(f"/teams/{team['id']}", data={"action": "grant-team-permission", **grant})) == \
        "Granted $update_team."
    with emu.server() as h:
        direct = h.get("/team-permissions", params={"team_id": team["id"], "user_id": user["id"]}).json()["items"]
    assert "$update_team" in {p["id"] for p in direct}
    assert notice(browser.post(f"/teams/{team['id']}", data={"action": "revoke-team-permission", **grant})) == \
        "Revoked $update_team."

    r = browser.post("/payments", data={"action": "change-item", "customer_type": "custom", "customer_id": "acme corp",
                                        "item_id": "api-calls", "delta": "7"})
    assert notice(r) == "api-calls changed by +7.", notice(r)
    with emu.server() as h:
        assert h.get("/payments/items/custom/acme%20corp/api-calls").json()["quantity"] == 7


def test_what_users_typed_is_escaped(emu, browser):
    marker = '"><script>window.pwned=1</script>'
    new_user(emu, display_name=marker)
    for path in ("/users", "/teams"):
        text = browser.get(path, params={"q": marker}).text
        assert "<script>window.pwned" not in text and "&lt;script&gt;window.pwned" in text
