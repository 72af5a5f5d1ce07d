"""The dashboard pages in headless Chromium, against a real emulator on a copy of the fixture config.

Each page: it loads without script errors, shows what it is for, one edit is made in the page (a form filled and
submitted in the browser) and read back through the API, and a screenshot goes to tests/artifacts/dashboard-*.png.
One test drives a page with the keyboard only (Tab order, labels, Enter).
"""
from __future__ import annotations

import json
import runpy
import shutil
import uuid

import pytest

from emulator.http.routes.dashboard import flatten
from support import FIXTURE_CONFIG, start_emulator
from test_dashboard import new_user
from test_inbox_ui import ARTIFACTS, CHROMIUM, page, plain_message, send  # noqa: F401  (page: the CDP fixture)

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")


@pytest.fixture(scope="module")
def emu(tmp_path_factory):
    """Its own emulator: the config page writes into the config file, so it gets a copy of the fixture."""
    config = tmp_path_factory.mktemp("dashboard") / "hexclave.config.py"
    shutil.copy(FIXTURE_CONFIG, config)
    e = start_emulator(config=config)
    e.config_path = config
    yield e
    e.stop()


def open_page(page, emu, path: str, ready: str) -> None:  # noqa: F811
    page.call("Page.navigate", url=emu.url + path)
    page.wait_for(f"document.readyState === 'complete' && !!document.querySelector({json.dumps(ready)})",
                  f"{path} to load")
    assert page.errors() == [], page.errors()


def fill(page, values: dict[str, str]) -> None:  # noqa: F811
    page.eval(f"Object.entries({json.dumps(values)}).forEach(([id, v]) => {{"
              "  const el = document.getElementById(id); el.value = v;"
              "  el.dispatchEvent(new Event('input', {bubbles: true})); }); true")


def submit(page, button_id: str, expect_path: str | None = None) -> str:  # noqa: F811
    """Click a form's button; waits for the page the post redirects to and returns its notice."""
    page.eval("window.__before = true")
    page.eval(f"document.getElementById({json.dumps(button_id)}).click(); true")
    page.wait_for("document.readyState === 'complete' && window.__before === undefined", "the page after the post")
    if expect_path:
        page.wait_for(f"location.pathname === {json.dumps(expect_path)}", expect_path)
    return page.eval("document.getElementById('notice')?.innerText || ''")


def test_overview(emu, page):  # noqa: F811
    new_user(emu, display_name="Ada")
    open_page(page, emu, "/", "#project-id")
    assert page.eval("document.getElementById('project-id').textContent") == emu.project_id
    text = page.eval("document.body.innerText")
    assert f"HEXCLAVE_PROJECT_ID={emu.project_id}" in page.eval("document.getElementById('env').textContent")
    assert emu.ssk in text and emu.pck in text
    assert str(emu.config_path) in text and "Loaded" in page.eval("document.getElementById('config-status').innerText")
    assert int(page.eval("document.getElementById('count-users').textContent")) >= 1
    links = page.eval("[...document.querySelectorAll('nav.nav a')].map(a => a.getAttribute('href'))")
    assert {"/inbox", "/webhooks", "/requests"} <= set(links)
    assert f"/users?project={emu.project_id}" in links
    page.screenshot(ARTIFACTS / "dashboard-overview.png")

    fill(page, {"display_name": "Acme (local)"})
    assert "renamed" in submit(page, "rename-project", "/")
    with emu.client() as h:
        assert h.get("/projects/current").json()["display_name"] == "Acme (local)"


def test_overview_shows_a_broken_config_file(emu, page):  # noqa: F811
    original = emu.config_path.read_text()
    try:
        emu.config_path.write_text(original + "\nthis is not = python\n")
        open_page(page, emu, "/", "#config-status")
        status = page.eval("document.getElementById('config-status').innerText")
        assert "Error" in status and f"line {len(original.splitlines()) + 2}" in status and "syntax" in status
    finally:
        emu.config_path.write_text(original)


def test_users_list_search_and_create(emu, page):  # noqa: F811
    marker = uuid.uuid4().hex[:8]
    for i in range(3):
        new_user(emu, display_name=f"Searchable {marker} {i}")
    open_page(page, emu, f"/users?q={marker}", "#users-table")
    assert page.eval("document.querySelectorAll('#users-table tbody tr').length") == 3
    page.screenshot(ARTIFACTS / "dashboard-users.png")

    email = f"created-{marker}@example.com"
    fill(page, {"new-email": email, "new-name": "Created In Page", "new-password": "a-long-enough-password"})
    page.eval("document.getElementById('new-verified').click(); true")
    notice = submit(page, "create-user")
    assert notice == "User created.", notice
    user_id = page.eval("location.pathname").rsplit("/", 1)[1]
    with emu.server() as h:
        user = h.get(f"/users/{user_id}").json()
    assert (user["primary_email"], user["display_name"], user["primary_email_verified"], user["has_password"]) == \
        (email, "Created In Page", True, True)


def test_user_page_edit_metadata_restrict_grant_and_impersonate(emu, page):  # noqa: F811
    user = new_user(emu, display_name="Grace")
    with emu.server() as h:
        team = h.post("/teams", json={"display_name": "Analytical Engines", "creator_user_id": user["id"]}).json()
    open_page(page, emu, f"/users/{user['id']}?project={emu.project_id}", "#save-metadata")

    # Invalid JSON is caught in the page (the form does not post); valid JSON is saved through the API.
    fill(page, {"server_metadata": "{not json"})
    assert "Not valid JSON" in page.eval("document.getElementById('server_metadata-error').textContent")
    assert page.eval("document.querySelector('.meta-form').checkValidity()") is False
    fill(page, {"server_metadata": '{"plan": "pro", "seats": 3}', "client_metadata": '{"theme": "dark"}'})
    assert submit(page, "save-metadata") == "Metadata saved."

    page.eval("document.getElementById('restricted_by_admin').click(); true")
    fill(page, {"restricted_by_admin_reason": "Suspicious sign-up"})
    assert "restricted now" in submit(page, "save-restriction")

    page.eval(f"document.getElementById('grant-{team['id']}').value = 'moderator'; true")
    page.eval(f"document.querySelector('#grant-{team['id']}').form.requestSubmit(); true")
    page.wait_for("document.getElementById('notice')?.innerText === 'Granted moderator.'", "the grant notice")

    with emu.server() as h:
        got = h.get(f"/users/{user['id']}").json()
        granted = h.get("/team-permissions", params={"user_id": user["id"], "team_id": team["id"]}).json()["items"]
    assert got["server_metadata"] == {"plan": "pro", "seats": 3} and got["client_metadata"] == {"theme": "dark"}
    assert got["restricted_by_admin"] is True and got["restricted_by_admin_reason"] == "Suspicious sign-up"
    assert "moderator" in {g["id"] for g in granted}
    assert "restricted" in page.eval("document.getElementById('restricted-state').innerText")

    # Impersonate: the page shows working tokens of this user.
    page.eval("window.__before = true; document.getElementById('impersonate').click(); true")
    page.wait_for("window.__before === undefined && !!document.getElementById('imp-access')", "the tokens")
    access = page.eval("document.getElementById('imp-access').textContent")
    assert user["id"] in page.eval("document.getElementById('imp-snippet').textContent") or \
        access in page.eval("document.getElementById('imp-snippet').textContent")
    page.screenshot(ARTIFACTS / "dashboard-user.png")
    with emu.client(access_token=access, x_stack_allow_restricted_user="true") as h:
        assert h.get("/users/me").json()["id"] == user["id"]
    # The impersonation session is listed (admin sees it) and can be revoked from the page.
    assert page.eval("document.getElementById('sessions-table').innerText").count("impersonation") == 1


def test_teams_create_member_invite_and_key(emu, page):  # noqa: F811
    member = new_user(emu, display_name="Member")
    open_page(page, emu, "/teams", "#create-team")
    fill(page, {"new-team-name": "Page Team"})
    assert submit(page, "create-team") == "Team created."
    team_id = page.eval("location.pathname").rsplit("/", 1)[1]

    fill(page, {"add-member": member["primary_email"]})
    assert submit(page, "add-member-button") == "Member added."
    fill(page, {"team-name": "Renamed Team", "client_metadata": '{"tier": 2}'})
    assert submit(page, "save-team") == "Team saved."
    fill(page, {"invite-email": "invitee@example.com"})
    assert "Invitation sent" in submit(page, "invite")
    fill(page, {"key-description": "CI key"})
    assert "API key created" in submit(page, "create-key")
    secret = page.eval("document.getElementById('notice-secret').textContent")
    page.screenshot(ARTIFACTS / "dashboard-team.png")

    with emu.server() as h:
        team = h.get(f"/teams/{team_id}").json()
        members = h.get("/users", params={"team_id": team_id}).json()["items"]
        invitations = h.get("/team-invitations", params={"team_id": team_id}).json()["items"]
        checked = h.post("/team-api-keys/check", json={"api_key": secret})
    assert team["display_name"] == "Renamed Team" and team["client_metadata"] == {"tier": 2}
    assert [m["id"] for m in members] == [member["id"]]
    assert [i["recipient_email"] for i in invitations] == ["invitee@example.com"]
    assert checked.status_code == 200 and checked.json()["team_id"] == team_id

    open_page(page, emu, "/teams", "#teams-table")
    assert "Renamed Team" in page.eval("document.getElementById('teams-table').innerText")
    page.screenshot(ARTIFACTS / "dashboard-teams.png")


def test_config_switch_written_to_the_file(emu, page):  # noqa: F811
    before = flatten(runpy.run_path(str(emu.config_path))["config"])
    open_page(page, emu, "/config", "#config-table")
    assert "config file" in page.eval("document.getElementById('config-table').innerText")
    assert page.eval("document.getElementById('sw-teams-createPersonalTeamOnSignUp').checked") is False
    page.eval("document.getElementById('sw-teams-createPersonalTeamOnSignUp').click(); true")
    assert submit(page, "save-switches") == "Config saved."
    fill(page, {"config-key": "emails.selectedThemeId", "config-value": "not json"})
    assert page.eval("document.getElementById('config-value').form.checkValidity()") is False
    page.screenshot(ARTIFACTS / "dashboard-config.png")

    with emu.server() as h:
        branch = json.loads(h.get("/internal/config/override/branch").json()["config_string"])
    assert branch["teams"]["createPersonalTeamOnSignUp"] is True
    after = flatten(runpy.run_path(str(emu.config_path))["config"])
    assert {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)} == \
        {"teams.createPersonalTeamOnSignUp"}  # unchanged switches are not written
    assert "createPersonalTeamOnSignUp\": True" in emu.config_path.read_text()
    user = new_user(emu)  # and it takes effect: a sign-up now gets a personal team
    with emu.server() as h:
        assert len(h.get("/teams", params={"user_id": user["id"]}).json()["items"]) == 1

    # A value the config schema refuses comes back as the API's message.
    fill(page, {"config-key": "teams.createPersonalTeamOnSignUp", "config-value": '"yes"'})
    notice = submit(page, "set-key")
    assert "boolean" in notice, notice


def test_payments_grant_change_item_and_clock(emu, page):  # noqa: F811
    user = new_user(emu)
    open_page(page, emu, f"/payments?customer_type=user&customer_id={user['primary_email']}", "#customer-items")
    page.eval("document.getElementById('grant-product').value = 'credits-pack'; true")
    fill(page, {"grant-quantity": "2"})
    assert submit(page, "grant") == "Granted credits-pack."
    fill(page, {"change-delta": "-30", "change-description": "support refund"})
    assert submit(page, "change-quantity") == "credits changed by -30."
    assert page.eval("document.getElementById('item-credits').textContent") == "170"
    page.screenshot(ARTIFACTS / "dashboard-payments.png")
    with emu.server() as h:
        assert h.get(f"/payments/items/user/{user['id']}/credits").json()["quantity"] == 170
        products = h.get(f"/payments/products/user/{user['id']}").json()["items"]
    assert [(p["id"], p["quantity"]) for p in products] == [("credits-pack", 2)]

    assert user["id"] in page.eval("document.getElementById('customers-table').innerText")
    with emu.http() as h:
        before = h.get("/emulator/clock").json()["now_millis"]
    fill(page, {"advance": "2d"})
    assert "Clock advanced by 2d" in submit(page, "advance-clock")
    with emu.http() as h:
        assert h.get("/emulator/clock").json()["now_millis"] - before >= 2 * 86_400_000


def test_keyboard_only(emu, page):  # noqa: F811
    """Tab from the top of the users page: the skip link comes first, the project switcher and navigation before
    the search; typing and Enter search; every form control has a label."""
    marker = uuid.uuid4().hex[:8]
    user = new_user(emu, display_name=f"Keyboard {marker}")
    with emu.server() as h:
        team = h.post("/teams", json={"display_name": "Keyboard team", "creator_user_id": user["id"]}).json()
    open_page(page, emu, "/users", "#user-search")
    order = []
    for _ in range(40):
        page.press("Tab", "Tab", 9)
        order.append(page.eval("document.activeElement.id || document.activeElement.textContent.trim()"))
        if order[-1] == "user-search":
            break
    assert order[0] == "Skip to content" and "project-select" in order and "Users" in order
    assert order.index("project-select") < order.index("Users") < order.index("user-search")
    page.call("Input.insertText", text=marker)
    page.press("Enter", "Enter", 13, "\r")
    page.wait_for(f"location.search.includes({json.dumps(marker)}) && document.readyState === 'complete'",
                  "the search to run")
    assert page.eval("document.querySelectorAll('#users-table tbody tr').length") == 1

    # The project switcher: arrow keys look through the projects without leaving the page; Enter switches.
    page.eval("document.getElementById('project-select').focus(); window.__before = true")
    page.press("ArrowUp", "ArrowUp", 38)
    assert page.eval("document.getElementById('project-select').value") == "internal"
    assert page.eval("window.__before") is True, "an arrow key left the page"
    page.press("Enter", "Enter", 13, "\r")
    page.wait_for("location.search === '?project=internal' && document.readyState === 'complete'",
                  "the internal project's users")

    for path in ("/", "/users", "/teams", "/config", f"/payments?customer_id={user['id']}", f"/users/{user['id']}",
                 f"/teams/{team['id']}"):
        open_page(page, emu, path, "main")
        unlabelled = page.eval("""[...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')).map(el => el.name || el.id)""")
        assert unlabelled == [], (path, unlabelled)
        nameless = page.eval("""[...document.querySelectorAll('button, a[href]')]
            .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim())).map(el => el.outerHTML)""")
        assert nameless == [], (path, nameless)


def test_user_page_links_to_their_mail(emu, page):  # noqa: F811
    user, other = new_user(emu), new_user(emu)
    send(emu, plain_message(user["primary_email"], "For this user", "Hello.", "App <app@example.com>"))
    send(emu, plain_message(other["primary_email"], "For someone else", "Hello.", "App <app@example.com>"))
    open_page(page, emu, f"/users/{user['id']}", "#save-profile")
    page.eval("[...document.querySelectorAll('a')].find(a => a.textContent.startsWith('Mail to')).click(); true")
    page.wait_for("location.pathname === '/inbox' && document.querySelectorAll('#list .item[data-id]').length === 1",
                  "the inbox showing the user's mail only")
    assert page.eval("document.getElementById('search').value") == user["primary_email"]
    assert "For this user" in page.eval("document.getElementById('list').innerText")
