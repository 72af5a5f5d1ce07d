"""Regression tests of the 2026-12-01 probe (issue 17): hostile input gets a 4xx, never a 500."""
from __future__ import annotations

import httpx
import pytest

from support import INTERNAL_SAK

DEEP = "[" * 100_000
JSON = {"content-type": "application/json"}


def plain(emu) -> httpx.Client:
    return httpx.Client(base_url=emu.url, timeout=30)


@pytest.mark.parametrize("method, path", [
    ("POST", "/api/v1/auth/password/sign-up"),
    ("POST", "/api/v1/users"),
    ("POST", "/api/v1/emulator/clock/advance"),
    ("POST", "/emulator/oauth/github/token"),
    ("POST", "/emulator/oauth/github/authorize"),
    ("POST", "/purchase/nothing-here"),
])
def test_deeply_nested_json_is_a_4xx(emu, method, path):
    with plain(emu) as http:
        response = http.request(method, path, content=DEEP, headers={
            **JSON, "x-stack-access-type": "server", "x-stack-project-id": emu.project_id,
            "x-stack-secret-server-key": emu.ssk})
    assert 400 <= response.status_code < 500, response.text


def test_deeply_nested_json_on_an_api_route_is_a_body_parsing_error(emu):
    response = emu.server().post("/users", content=DEEP, headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "BODY_PARSING_ERROR"


def test_octet_stream_body_on_a_json_route_is_a_schema_error(emu):
    response = emu.server().post("/users", content=b"\x00\xff binary", headers={"content-type": "application/octet-stream"})
    assert response.status_code == 400
    assert response.json()["code"] == "SCHEMA_ERROR"
    assert "body must be a `object` type, but the final value was: `{}`" in response.json()["error"]


@pytest.mark.parametrize("limit, message", [
    ("inf", "must be a `number` type"), ("nan", "must be a `number` type"), ("NaN", "must be a `number` type"),
    ("Infinity", "must be an integer"), ("1e999", "must be an integer"), ("-Infinity", "must be an integer"),
])
def test_non_finite_numbers_in_the_query_are_schema_errors(emu, limit, message):
    response = emu.server().get("/users", params={"limit": limit})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "SCHEMA_ERROR"
    assert f"query.limit {message}" in response.json()["error"]


@pytest.mark.parametrize("raw", ['{"limit": NaN}', '{"limit": Infinity}', '{"limit": -Infinity}'])
def test_nan_and_infinity_literals_are_not_json(emu, raw):
    response = emu.server().post("/teams", content=raw, headers=JSON)
    assert response.status_code == 400
    assert response.json()["code"] == "BODY_PARSING_ERROR"


def test_json_numbers_beyond_double_range_are_not_integers(emu):
    user = emu.server().post("/users", json={}).json()
    response = emu.server().post("/user-api-keys", content='{"user_id": "%s", "description": "x", "expires_at_millis": 1%s}'
                                 % (user["id"], "0" * 400), headers=JSON)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "SCHEMA_ERROR"
    assert "body.expires_at_millis must be a `number` type" in response.json()["error"]


def test_huge_expiry_on_internal_api_keys_is_a_schema_error(emu):
    admin = emu.http("admin", project_id="internal", key=INTERNAL_SAK)
    for expires in (10**400, 10**19, 1e300):
        response = admin.post("/internal/api-keys", json={
            "description": "x", "expires_at_millis": expires, "has_publishable_client_key": True,
            "has_secret_server_key": True, "has_super_secret_admin_key": False})
        assert response.status_code == 400, response.text
        assert response.json()["code"] == "SCHEMA_ERROR"


def test_clock_refuses_infinite_or_absurd_advances(emu):
    with plain(emu) as http:
        for raw in ('{"seconds": 1e999}', '{"seconds": 1%s}' % ("0" * 400), '{"duration": "99999999999999d"}'):
            response = http.post("/api/v1/emulator/clock/advance", content=raw, headers=JSON)
            assert response.status_code == 400, response.text
        assert http.get("/api/v1/emulator/clock").status_code == 200


def test_inbox_search_of_60000_characters_is_answered(emu):
    with plain(emu) as http:
        response = http.get("/api/v1/emulator/inbox/messages", params={"q": "x" * 60_000})
        assert response.status_code == 200
        assert response.json() == {"items": []}
        assert http.get(f"/api/v1/mailbox/{'y' * 60_000}").status_code in (200, 400)


def test_search_matches_wildcard_characters_literally(emu):
    """Searches match text, not LIKE patterns: `%` finds only names containing `%`."""
    server = emu.server()
    marker = f"pct-{emu.project_id[:8]}"
    server.post("/users", json={"display_name": f"{marker} 100% sure"})
    server.post("/users", json={"display_name": f"{marker} plain"})
    names = [u["display_name"] for u in server.get("/users", params={"query": f"{marker} 100%"}).json()["items"]]
    assert names == [f"{marker} 100% sure"]
    assert server.get("/users", params={"query": "%"}).json()["items"] and \
        all("%" in (u["display_name"] or "") or "%" in (u["primary_email"] or "")
            for u in server.get("/users", params={"query": "%"}).json()["items"])


def test_bodies_over_10_mb_are_413(emu):
    big = b"x" * (10 * 1024 * 1024 + 1)
    with plain(emu) as http:
        assert http.post("/api/v1/auth/password/sign-up", content=big, headers=JSON).status_code == 413

        def chunks():  # no content-length: the limit is counted while reading
            for _ in range(11):
                yield b"x" * 1024 * 1024
        assert http.post("/api/v1/auth/password/sign-up", content=chunks(), headers=JSON).status_code == 413
        # just under the limit is read (and then refused for what it is, not for its size)
        response = http.post("/api/v1/emulator/clock/advance", content=b" " * (1024 * 1024) + b"{}", headers=JSON)
        assert response.status_code == 400
