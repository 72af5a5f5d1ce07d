"""The emulator clock: the API, the CLI, and a time rule (access-token expiry) reading it."""
from __future__ import annotations

import subprocess
import sys

import httpx
import pytest

from support import REPO, start_emulator


@pytest.fixture(scope="module")
def clock_emu():
    emu = start_emulator()
    yield emu
    emu.stop()


def test_read_and_advance(clock_emu):
    before = httpx.get(clock_emu.api + "/emulator/clock").json()
    assert set(before) == {"now_millis", "now", "offset_millis"}
    r = httpx.post(clock_emu.api + "/emulator/clock/advance", json={"duration": "2d"})
    assert r.status_code == 200
    after = r.json()
    assert after["offset_millis"] - before["offset_millis"] == 2 * 86_400_000
    assert after["now_millis"] - before["now_millis"] >= 2 * 86_400_000
    r = httpx.post(clock_emu.api + "/emulator/clock/advance", json={"seconds": 90})
    assert r.json()["offset_millis"] == after["offset_millis"] + 90_000


@pytest.mark.parametrize("body", [{"seconds": -1}, {"duration": "soon"}, {}, {"seconds": 1, "duration": "1d"},
                                  {"seconds": "10"}])
def test_bad_advance_is_400(clock_emu, body):
    r = httpx.post(clock_emu.api + "/emulator/clock/advance", json=body)
    assert r.status_code == 400 and r.text.startswith("Cannot advance the clock")


def test_access_token_expires_after_an_advance(clock_emu):
    with clock_emu.server() as s:
        user = s.post("/users", json={"primary_email": "clock@example.com"}).json()
        token = s.post("/auth/sessions", json={"user_id": user["id"]}).json()["access_token"]
    with clock_emu.client(access_token=token) as c:
        assert c.get("/users/me").status_code == 200
        httpx.post(clock_emu.api + "/emulator/clock/advance", json={"duration": "11min"})
        r = c.get("/users/me")
    assert r.status_code == 401 and r.json()["code"] == "ACCESS_TOKEN_EXPIRED"


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator", "clock", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=30)


def test_cli_show_and_advance(clock_emu):
    shown = cli("show", "--url", clock_emu.url)
    assert shown.returncode == 0, shown.stderr
    before = httpx.get(clock_emu.api + "/emulator/clock").json()["offset_millis"]
    moved = cli("advance", "30d", "--url", clock_emu.url)
    assert moved.returncode == 0, moved.stderr
    assert httpx.get(clock_emu.api + "/emulator/clock").json()["offset_millis"] == before + 30 * 86_400_000
    bad = cli("advance", "backwards", "--url", clock_emu.url)
    assert bad.returncode != 0 and "Cannot advance the clock" in bad.stderr
