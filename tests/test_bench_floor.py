"""bench/floor.py, the floor bench/run.py compares sign-up with, still signs up on the current store in each of its
ways of writing rows (a new NOT NULL column, say, would otherwise break the benchmark unnoticed)."""
from __future__ import annotations

import subprocess
import sys

import httpx
import jwt
import pytest

from support import REPO, free_port, wait_for


@pytest.mark.parametrize("mode", ["orm", "core", "driver"])
def test_the_floor_signs_up_once_per_email(mode):
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(REPO / "bench" / "floor.py"), str(port), mode],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert wait_for(lambda: _ready(url), timeout=30), "bench/floor.py did not start"
        body = {"email": f"floor-{mode}@example.com", "password": "password123"}
        first = httpx.post(url, json=body)
        assert first.status_code == 200, first.text
        claims = jwt.decode(first.json()["access_token"], options={"verify_signature": False})
        assert claims["sub"] == first.json()["user_id"] and claims["email"] == body["email"]
        again = httpx.post(url, json=body)
        assert again.status_code == 409 and again.json()["code"] == "USER_EMAIL_ALREADY_EXISTS"
    finally:
        proc.kill()
        output = proc.communicate(timeout=10)[0]
    assert "Traceback" not in output, output


def _ready(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.TransportError:
        return False
