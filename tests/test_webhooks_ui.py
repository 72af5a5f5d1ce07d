"""The Webhooks page in headless Chromium: a delivery made after the page loaded appears without a reload, its
payload and the endpoint's answer show, and Replay sends it again. Screenshot: tests/artifacts/webhooks.png."""
from __future__ import annotations

import json

import httpx
import pytest

from support import INTERNAL_SAK, INTERNAL_SSK, start_emulator
from test_inbox_ui import ARTIFACTS, CHROMIUM, page  # noqa: F401  (the CDP page fixture)
from test_webhooks import Receiver

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")


@pytest.fixture
def emulator():
    e = start_emulator()
    yield e
    e.stop()


def internal(emu, access: str, key: str) -> httpx.Client:
    name = {"admin": "super-secret-admin-key", "server": "secret-server-key"}[access]
    return httpx.Client(base_url=emu.api, timeout=20, headers={
        "x-stack-project-id": "internal", "x-stack-access-type": access, f"x-stack-{name}": key})


def test_webhooks_page_shows_deliveries_live_and_replays(emulator, page):  # noqa: F811
    receiver = Receiver()
    try:
        token = internal(emulator, "admin", INTERNAL_SAK).post("/webhooks/svix-token", json={}).json()["token"]
        created = httpx.post(f"{emulator.api}/app/internal/endpoint", json={"url": receiver.url("/hooks")},
                             headers={"authorization": f"Bearer {token}"})
        assert created.status_code == 201

        page.call("Page.navigate", url=emulator.url + "/webhooks")
        page.wait_for("document.getElementById('live')?.dataset.state === 'live'", "the page to go live")
        assert page.eval("document.getElementById('list-none').hidden") is False  # nothing delivered yet

        user = internal(emulator, "server", INTERNAL_SSK).post(
            "/users", json={"primary_email": "page@example.com", "display_name": "Page"}).json()
        user_item = "[...document.querySelectorAll('#list .item')].find(li => li.textContent.includes('user.created'))"
        page.wait_for(f"!!{user_item}", "the delivery to appear without a reload")
        before = page.eval("document.querySelectorAll('#list .item').length")
        page.eval(f"{user_item}.click(); true")
        assert page.eval("document.getElementById('d-type').textContent") == "user.created"
        payload = json.loads(page.eval("document.getElementById('d-payload').textContent"))
        assert payload["type"] == "user.created" and payload["data"]["id"] == user["id"]
        assert page.eval("document.getElementById('d-status').textContent").startswith("200")
        assert page.eval("document.getElementById('d-duration').textContent").endswith(" ms")
        page.eval("document.getElementById('tab-response').click(); true")
        assert page.eval("document.getElementById('d-response').textContent") == "received"
        page.eval("document.getElementById('tab-payload').click(); true")
        page.screenshot(ARTIFACTS / "webhooks.png")

        page.eval("document.getElementById('d-replay').click(); true")
        page.wait_for(f"document.querySelectorAll('#list .item').length === {before + 1}", "the replayed attempt")
        bodies = [r["body"] for r in receiver.at("/hooks") if b'"user.created"' in r["body"]]
        assert len(bodies) == 2 and bodies[0] == bodies[1]
        assert page.errors() == []
    finally:
        receiver.server.shutdown()
