"""The request log: --log-requests lines (text and JSON), GET /api/v1/emulator/requests with its filters, and the
Requests page in a real browser."""
from __future__ import annotations

import json
import uuid

import httpx
import pytest

from support import start_emulator, wait_for
from test_inbox_ui import CHROMIUM, page  # noqa: F401  (the browser fixture)


def sign_in_wrong(emu) -> str:
    email = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    r = emu.client().post("/auth/password/sign-in", json={"email": email, "password": "wrong-password"})
    assert r.status_code == 400 and r.headers["x-stack-known-error"] == "EMAIL_PASSWORD_MISMATCH"
    return email


def logged_lines(emu) -> list[str]:
    return [line.strip() for line in emu.output[len(emu.banner):]]


def test_text_lines(tmp_path):
    emu = start_emulator("--log-requests")
    try:
        sign_in_wrong(emu)
        emu.server().get("/users")
        httpx.get(emu.api + "/emulator/health")  # the emulator's own routes are not logged
        assert wait_for(lambda: len(logged_lines(emu)) >= 2)
        failed, listed = logged_lines(emu)[:2]
        parts = failed.split()
        assert parts[1:4] == ["POST", "/api/v1/auth/password/sign-in", "400"]
        assert parts[4].endswith("ms") and float(parts[4][:-2]) >= 0
        assert parts[5:] == [f"project={emu.project_id}", "client", "EMAIL_PASSWORD_MISMATCH"]
        assert listed.split()[1:4] == ["GET", "/api/v1/users", "200"] and listed.endswith("server")
        assert not any("/emulator/" in line for line in logged_lines(emu))
    finally:
        emu.stop()


def test_json_lines():
    emu = start_emulator("--log-requests", "--log-format", "json")
    try:
        sign_in_wrong(emu)
        assert wait_for(lambda: logged_lines(emu))
        entry = json.loads(logged_lines(emu)[0])
        assert {k: entry[k] for k in ("method", "path", "status", "project_id", "access_type", "known_error")} == {
            "method": "POST", "path": "/api/v1/auth/password/sign-in", "status": 400, "project_id": emu.project_id,
            "access_type": "client", "known_error": "EMAIL_PASSWORD_MISMATCH"}
        assert entry["duration_ms"] >= 0 and "request" not in entry  # bodies stay out of the log lines
    finally:
        emu.stop()


def test_requests_api_filters_and_bodies(emu):
    email = sign_in_wrong(emu)
    emu.server().get("/users", params={"limit": 1})
    found = httpx.get(emu.api + "/emulator/requests",
                      params={"status": "4xx", "path": "password/sign-in", "project_id": emu.project_id}).json()["items"]
    newest = found[0]
    assert newest["status"] == 400 and json.loads(newest["request"]["body"])["email"] == email
    assert json.loads(newest["response"]["body"])["code"] == "EMAIL_PASSWORD_MISMATCH"
    assert newest["request"]["headers"]["x-stack-access-type"] == "client"
    assert all(e["status"] // 100 == 4 for e in found)
    exact = httpx.get(emu.api + "/emulator/requests", params={"status": "200", "path": "/users"}).json()["items"]
    assert exact and exact[0]["query"] == "limit=1"
    none = httpx.get(emu.api + "/emulator/requests", params={"project_id": str(uuid.uuid4())}).json()["items"]
    assert none == []
    assert httpx.get(emu.api + "/emulator/requests", params={"limit": "x"}).status_code == 400


@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium binary on PATH")
def test_requests_page_shows_a_failed_call(page):  # noqa: F811
    emu = start_emulator()
    try:
        sign_in_wrong(emu)
        emu.server().get("/users")
        page.call("Page.navigate", url=emu.url + "/requests")
        page.wait_for("document.querySelectorAll('#list .item').length === 2", "both requests to be listed")
        page.eval("document.getElementById('status').value = '4xx';"
                  "document.getElementById('status').dispatchEvent(new Event('input'))")
        page.wait_for("document.querySelectorAll('#list .item').length === 1", "the 4xx filter")
        page.eval("document.querySelector('#list .item').click()")
        page.wait_for("!document.getElementById('detail').hidden", "the request's detail")
        detail = page.eval("document.getElementById('detail').innerText")
        assert "/api/v1/auth/password/sign-in" in detail and "EMAIL_PASSWORD_MISMATCH" in detail
        assert "wrong-password" in detail  # the request body
        assert page.errors() == []
    finally:
        emu.stop()
