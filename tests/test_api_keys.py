"""User and team API keys over HTTP: create / list / read / update / revoke for both types, the secret shown once,
the secret format (prefix, embedded id, type, scanner char, marker, CRC32), the server check endpoint and its known
errors, client rules (own user only; `$manage_api_keys` for team keys) and the `apiKeys.enabled` config switches.

Reference: apps/backend/src/app/api/latest/(api-keys)/handlers.tsx, packages/stack-shared/src/utils/api-keys.tsx,
interface/crud/project-api-keys.ts, e2e api-keys.test.ts snapshots.
"""
from __future__ import annotations

import re
import tempfile
import time
import uuid
import zlib

import pytest

from support import start_emulator
from wire import UUID_RE, call, create_user, known_error, ok, schema_error, sign_up, text_error, write_config

READ_KEYS = {"id", "description", "created_at_millis", "is_public", "value", "type"}
# <prefix>_<45 random><32 hex id><type><scanner><marker><8 hex crc32>, the layout of the platform's utils/api-keys.
SECRET_RE = re.compile(r"^(?P<prefix>[a-zA-Z0-9_]+)_(?P<random>[a-zA-Z0-9_]{45})(?P<id>[a-zA-Z0-9_]{32})"
                       r"(?P<type>[a-zA-Z0-9_]{4})(?P<scanner>[a-zA-Z0-9_])(?P<marker>574ck4u7h)"
                       r"(?P<crc>[a-zA-Z0-9_]{8})$")
HOUR = 3_600_000
USER_DISABLED = "User API keys are not enabled for this project."
TEAM_DISABLED = "Team API keys are not enabled for this project."
NOT_OWN = "Client can only manage their own api keys"
PASSWORD_AUTH = {"auth": {"allowSignUp": True, "password": {"allowSignIn": True}}}


def now() -> int:
    return int(time.time() * 1000)


def parse_secret(secret: str) -> dict:
    """Split a secret like the SDK does and verify its checksum."""
    m = SECRET_RE.match(secret)
    assert m, secret
    parts = m.groupdict()
    assert f"{zlib.crc32(secret[:-8].encode()):08x}" == parts["crc"], secret
    hexid = parts["id"]
    parts["uuid"] = f"{hexid[:8]}-{hexid[8:12]}-{hexid[12:16]}-{hexid[16:20]}-{hexid[20:]}"
    assert re.fullmatch(r"[0-9a-hjkmnp-tv-z]{45}", parts["random"]), secret
    return parts


def create_key(emu, kind: str, token: str | None = None, access: str = "client", **body) -> dict:
    body.setdefault("description", "a key")
    body.setdefault("expires_at_millis", None)
    if kind == "user":
        body.setdefault("user_id", "me")
    return ok(call(emu, "POST", f"/{kind}-api-keys", access=access, token=token, json=body))


def check(emu, kind: str, secret: str, **kw):
    return call(emu, "POST", f"/{kind}-api-keys/check", access="server", json={"api_key": secret}, **kw)


def new_team(emu, creator_id: str) -> str:
    return ok(call(emu, "POST", "/teams", access="server",
                   json={"display_name": "Key team", "creator_user_id": creator_id}), 201)["id"]


def add_member(emu, team_id: str, user_id: str) -> None:
    ok(call(emu, "POST", f"/team-memberships/{team_id}/{user_id}", access="server", json={}), 201)


# ---- user keys: create, format, read, list ----------------------------------------------------------------------

def test_create_user_key_shape_and_secret_format(emu):
    t = sign_up(emu)
    before = now()
    k = create_key(emu, "user", t["access_token"], description="Test API Key")
    assert set(k) == READ_KEYS | {"user_id"}  # no expires/revoked fields when unset
    assert UUID_RE.match(k["id"])
    assert k["description"] == "Test API Key" and k["is_public"] is False
    assert k["type"] == "user" and k["user_id"] == t["user_id"]
    assert before - 5000 <= k["created_at_millis"] <= now() + 5000
    parts = parse_secret(k["value"])
    assert parts["prefix"] == "sk" and parts["uuid"] == k["id"] and parts["type"] == "user"
    assert parts["scanner"] == "1"  # self-hosted, not public


def test_public_key_prefix_and_scanner(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"], is_public=True)
    assert k["is_public"] is True
    parts = parse_secret(k["value"])
    assert parts["prefix"] == "pk" and parts["scanner"] == "3" and parts["uuid"] == k["id"]


def test_secrets_are_unique_and_random(emu):
    t = sign_up(emu)
    a, b = (create_key(emu, "user", t["access_token"])["value"] for _ in range(2))
    assert a != b and parse_secret(a)["random"] != parse_secret(b)["random"]


def test_secret_shown_once_then_last_four(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"])
    for access in ("client", "server"):
        got = ok(call(emu, "GET", f"/user-api-keys/{k['id']}", access=access, token=t["access_token"]))
        assert got == {**k, "value": {"last_four": k["value"][-4:]}}
    listed = ok(call(emu, "GET", "/user-api-keys", token=t["access_token"], params={"user_id": "me"}))
    assert listed == {"items": [{**k, "value": {"last_four": k["value"][-4:]}}], "is_paginated": False}


def test_list_newest_first_with_expiry(emu):
    t = sign_up(emu)
    exp = now() + HOUR
    first = create_key(emu, "user", t["access_token"], description="First API Key")
    second = create_key(emu, "user", t["access_token"], description="Second API Key", expires_at_millis=exp)
    assert second["expires_at_millis"] == exp and "expires_at_millis" not in first
    items = ok(call(emu, "GET", "/user-api-keys", token=t["access_token"],
                    params={"user_id": t["user_id"]}))["items"]
    assert [i["id"] for i in items] == [second["id"], first["id"]]
    assert items[0]["expires_at_millis"] == exp and "expires_at_millis" not in items[1]


def test_expiry_values(emu):
    t = sign_up(emu)
    # 0 counts as "no expiry", as in the reference; fractions are truncated.
    assert "expires_at_millis" not in create_key(emu, "user", t["access_token"], expires_at_millis=0)
    frac = create_key(emu, "user", t["access_token"], expires_at_millis=now() + HOUR + 0.7)
    assert isinstance(frac["expires_at_millis"], int)
    r = call(emu, "POST", "/user-api-keys", token=t["access_token"], json={"description": "x", "user_id": "me"})
    assert schema_error(r, "POST", "/api/v1/user-api-keys") == ["body.expires_at_millis must be defined"]
    r = call(emu, "POST", "/user-api-keys", token=t["access_token"],
             json={"description": "x", "user_id": "me", "expires_at_millis": "soon"})
    assert schema_error(r, "POST", "/api/v1/user-api-keys")[0].startswith("body.expires_at_millis must be a `number`")
    r = call(emu, "POST", "/user-api-keys", token=t["access_token"],
             json={"description": "x", "user_id": "me", "expires_at_millis": 1e300})
    assert schema_error(r, "POST", "/api/v1/user-api-keys")[0].startswith("body.expires_at_millis must be")


def test_list_without_user_id_is_refused(emu):
    t = sign_up(emu)
    for access in ("server", "client"):
        r = call(emu, "GET", "/user-api-keys", access=access, token=t["access_token"])
        known_error(r, 400, "SCHEMA_ERROR", {"message": "user_id is required for user API keys"})


def test_read_query_is_checked_but_not_needed(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"])
    path = f"/user-api-keys/{k['id']}"
    ok(call(emu, "GET", path, token=t["access_token"], params={"user_id": t["user_id"]}))
    r = call(emu, "GET", path, token=t["access_token"], params={"user_id": t["user_id"], "team_id": "x"})
    assert schema_error(r, "GET", "/api/v1" + path) == ["query contains unknown properties: team_id"]
    r = call(emu, "GET", "/user-api-keys/not-a-uuid", token=t["access_token"])
    assert schema_error(r, "GET", "/api/v1/user-api-keys/not-a-uuid") == ["params.api_key_id must be a valid UUID"]
    known_error(call(emu, "GET", f"/user-api-keys/{uuid.uuid4()}", token=t["access_token"]), 404, "API_KEY_NOT_FOUND")


def test_check_path_only_takes_post(emu):
    for kind in ("user", "team"):
        for method in ("GET", "PATCH"):
            r = call(emu, method, f"/{kind}-api-keys/check", access="server", json={})
            assert r.status_code == 405, r.text
    r = call(emu, "DELETE", f"/user-api-keys/{uuid.uuid4()}", access="server")
    assert r.status_code == 405


# ---- update and revoke --------------------------------------------------------------------------------------------

def test_update_description_and_revoke_one_way(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"], description="old")
    path = f"/user-api-keys/{k['id']}"
    upd = ok(call(emu, "PATCH", path, token=t["access_token"], json={"description": "new"}))
    assert upd["description"] == "new" and "manually_revoked_at_millis" not in upd
    before = now()
    first = ok(call(emu, "PATCH", path, token=t["access_token"], json={"revoked": True}))
    assert before - 5000 <= first["manually_revoked_at_millis"] <= now() + 5000
    assert first["value"] == {"last_four": k["value"][-4:]} and first["description"] == "new"
    time.sleep(0.01)
    second = ok(call(emu, "PATCH", path, token=t["access_token"], json={"revoked": True, "description": "z"}))
    assert second["manually_revoked_at_millis"] == first["manually_revoked_at_millis"]
    assert second["description"] == "z"
    # There is no way back: revoked must be true when sent.
    r = call(emu, "PATCH", path, token=t["access_token"], json={"revoked": False})
    assert schema_error(r, "PATCH", "/api/v1" + path) == ["body.revoked must be one of the following values: true"]
    known_error(check(emu, "user", k["value"]), 401, "API_KEY_REVOKED")
    listed = ok(call(emu, "GET", "/user-api-keys", token=t["access_token"], params={"user_id": "me"}))["items"]
    assert listed[0]["manually_revoked_at_millis"] == first["manually_revoked_at_millis"]


def test_update_cannot_change_owner(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"])
    path = f"/user-api-keys/{k['id']}"
    for field in ("user_id", "team_id"):
        r = call(emu, "PATCH", path, token=t["access_token"], json={"description": "u", field: "x"})
        assert schema_error(r, "PATCH", "/api/v1" + path) == [f"body contains unknown properties: {field}"]
    assert ok(check(emu, "user", k["value"]))["description"] == "a key"


# ---- check ---------------------------------------------------------------------------------------------------------

def test_check_valid_returns_read_object(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"], expires_at_millis=now() + HOUR)
    assert ok(check(emu, "user", k["value"])) == {**k, "value": {"last_four": k["value"][-4:]}}
    r = call(emu, "POST", "/user-api-keys/check", access="client", json={"api_key": k["value"]})
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type", "allowed_access_types"})
    # Admin access is admitted too (the internal project, whose admin key is known, has API keys switched off).
    r = call(emu, "POST", "/user-api-keys/check", access="admin", project_id="internal", json={"api_key": "x"})
    text_error(r, 400, USER_DISABLED)


def test_check_not_found_and_expired(emu):
    t = sign_up(emu)
    known_error(check(emu, "user", "sk_this_is_a_fake_api_key_123456789"), 404, "API_KEY_NOT_FOUND")
    expired = create_key(emu, "user", t["access_token"], expires_at_millis=now() - HOUR)
    assert expired["expires_at_millis"] < now()
    known_error(check(emu, "user", expired["value"]), 401, "API_KEY_EXPIRED")
    soon = create_key(emu, "user", t["access_token"], expires_at_millis=now() + 300)
    ok(check(emu, "user", soon["value"]))
    time.sleep(0.4)
    known_error(check(emu, "user", soon["value"]), 401, "API_KEY_EXPIRED")
    r = call(emu, "POST", "/user-api-keys/check", access="server", json={})
    assert schema_error(r, "POST", "/api/v1/user-api-keys/check") == ["body.api_key must be defined"]


def test_check_wrong_type_both_ways(emu):
    t = sign_up(emu)
    team_id = new_team(emu, t["user_id"])
    user_key = create_key(emu, "user", t["access_token"])
    team_key = create_key(emu, "team", t["access_token"], team_id=team_id)
    known_error(check(emu, "user", team_key["value"]), 400, "WRONG_API_KEY_TYPE",
                {"expected_type": "user", "actual_type": "team"})
    known_error(check(emu, "team", user_key["value"]), 400, "WRONG_API_KEY_TYPE",
                {"expected_type": "team", "actual_type": "user"})
    # Reading a key through the other type's collection finds nothing.
    known_error(call(emu, "GET", f"/user-api-keys/{team_key['id']}", access="server"), 404, "API_KEY_NOT_FOUND")
    known_error(call(emu, "GET", f"/team-api-keys/{user_key['id']}", access="server", params={"team_id": team_id}),
                404, "API_KEY_NOT_FOUND")


def test_key_of_another_project_is_not_found():
    """Two projects in one store (same data dir, two config files): a key only checks in its own project."""
    data_dir = tempfile.mkdtemp(prefix="hexclave-keys-")
    enabled = {"apiKeys": {"enabled": {"user": True, "team": True}}}
    first = start_emulator("--data-dir", data_dir, config=write_config(enabled), in_memory=False)
    try:
        user = create_user(first)
        secret = create_key(first, "user", access="server", user_id=user["id"])["value"]
        ok(check(first, "user", secret))
    finally:
        first.stop()
    second = start_emulator("--data-dir", data_dir, config=write_config(enabled), in_memory=False)
    try:
        assert second.project_id != first.project_id
        known_error(check(second, "user", secret), 404, "API_KEY_NOT_FOUND")
        own = create_key(second, "user", access="server", user_id=create_user(second)["id"])["value"]
        ok(check(second, "user", own))
    finally:
        second.stop()


# ---- client rules --------------------------------------------------------------------------------------------------

def test_client_cannot_touch_another_users_keys(emu):
    owner, other = sign_up(emu), sign_up(emu)
    k = create_key(emu, "user", owner["access_token"], description="First User's API Key")
    tok = other["access_token"]
    r = call(emu, "POST", "/user-api-keys", token=tok,
             json={"description": "x", "expires_at_millis": None, "user_id": owner["user_id"]})
    text_error(r, 403, NOT_OWN)
    text_error(call(emu, "GET", "/user-api-keys", token=tok, params={"user_id": owner["user_id"]}), 403, NOT_OWN)
    text_error(call(emu, "GET", f"/user-api-keys/{k['id']}", token=tok), 403, NOT_OWN)
    # The query's user_id does not help: the key's owner decides.
    text_error(call(emu, "GET", f"/user-api-keys/{k['id']}", token=tok, params={"user_id": "me"}), 403, NOT_OWN)
    r = call(emu, "PATCH", f"/user-api-keys/{k['id']}", token=tok, params={"user_id": owner["user_id"]},
             json={"description": "Unauthorized Update", "revoked": True})
    text_error(r, 403, NOT_OWN)
    assert ok(check(emu, "user", k["value"]))["description"] == "First User's API Key"


def test_client_without_user(emu):
    t = sign_up(emu)
    k = create_key(emu, "user", t["access_token"])
    known_error(call(emu, "GET", "/user-api-keys", params={"user_id": "me"}), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")
    known_error(call(emu, "GET", "/user-api-keys", params={"user_id": t["user_id"]}), 401,
                "USER_AUTHENTICATION_REQUIRED")
    known_error(call(emu, "GET", f"/user-api-keys/{k['id']}"), 401, "USER_AUTHENTICATION_REQUIRED")


def test_server_manages_any_users_keys(emu):
    a, b = sign_up(emu), sign_up(emu)
    k = create_key(emu, "user", access="server", user_id=a["user_id"], description="server-made",
                   expires_at_millis=now() + HOUR)
    assert k["user_id"] == a["user_id"] and parse_secret(k["value"])["uuid"] == k["id"]
    listed = ok(call(emu, "GET", "/user-api-keys", access="server", params={"user_id": a["user_id"]}))["items"]
    assert [i["id"] for i in listed] == [k["id"]]
    upd = ok(call(emu, "PATCH", f"/user-api-keys/{k['id']}", access="server", json={"description": "d"}))
    assert upd["description"] == "d"
    text_error(call(emu, "GET", "/user-api-keys", token=b["access_token"], params={"user_id": a["user_id"]}),
               403, NOT_OWN)
    r = call(emu, "POST", "/user-api-keys", access="server",
             json={"description": "x", "expires_at_millis": None, "user_id": str(uuid.uuid4())})
    known_error(r, 404, "USER_NOT_FOUND")
    r = call(emu, "POST", "/user-api-keys", access="server", json={"description": "x", "expires_at_millis": None,
                                                                    "user_id": "me"})
    known_error(r, 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


def test_deleting_the_user_deletes_its_keys(emu):
    user = create_user(emu)
    k = create_key(emu, "user", access="server", user_id=user["id"])
    ok(call(emu, "DELETE", f"/users/{user['id']}", access="server"))
    known_error(check(emu, "user", k["value"]), 404, "API_KEY_NOT_FOUND")


# ---- team keys -----------------------------------------------------------------------------------------------------

def test_team_key_lifecycle_for_a_manager(emu):
    t = sign_up(emu)
    team_id = new_team(emu, t["user_id"])  # the creator gets team_admin, which contains $manage_api_keys
    tok = t["access_token"]
    k = create_key(emu, "team", tok, team_id=team_id, description="Team API Key", expires_at_millis=now() + HOUR)
    assert set(k) == READ_KEYS | {"team_id", "expires_at_millis"}
    assert k["type"] == "team" and k["team_id"] == team_id
    parts = parse_secret(k["value"])
    assert parts["prefix"] == "sk" and parts["type"] == "team" and parts["uuid"] == k["id"]
    hidden = {**k, "value": {"last_four": k["value"][-4:]}}
    assert ok(call(emu, "GET", "/team-api-keys", token=tok, params={"team_id": team_id})) == \
        {"items": [hidden], "is_paginated": False}
    assert ok(call(emu, "GET", f"/team-api-keys/{k['id']}", token=tok, params={"team_id": team_id})) == hidden
    assert ok(check(emu, "team", k["value"])) == hidden
    upd = ok(call(emu, "PATCH", f"/team-api-keys/{k['id']}", token=tok, params={"team_id": team_id},
                  json={"description": "renamed", "revoked": True}))
    assert upd["description"] == "renamed" and "manually_revoked_at_millis" in upd
    known_error(check(emu, "team", k["value"]), 401, "API_KEY_REVOKED")
    pub = create_key(emu, "team", tok, team_id=team_id, is_public=True)
    assert parse_secret(pub["value"])["prefix"] == "pk"


def test_team_key_query_needs_team_id(emu):
    t = sign_up(emu)
    team_id = new_team(emu, t["user_id"])
    k = create_key(emu, "team", t["access_token"], team_id=team_id)
    path = f"/team-api-keys/{k['id']}"
    assert schema_error(call(emu, "GET", path, access="server"), "GET", "/api/v1" + path) == \
        ["query.team_id must be defined"]
    assert schema_error(call(emu, "GET", "/team-api-keys", access="server"), "GET", "/api/v1/team-api-keys") == \
        ["query.team_id must be defined"]
    r = call(emu, "GET", "/team-api-keys", access="server", params={"team_id": "nope"})
    assert schema_error(r, "GET", "/api/v1/team-api-keys") == ["query.team_id must be a valid UUID"]


def test_team_member_without_manage_api_keys_is_refused(emu):
    admin, member, outsider = sign_up(emu), sign_up(emu), sign_up(emu)
    team_id = new_team(emu, admin["user_id"])
    add_member(emu, team_id, member["user_id"])  # team_member: no $manage_api_keys
    k = create_key(emu, "team", admin["access_token"], team_id=team_id)
    for who in (member, outsider):
        tok = who["access_token"]
        r = call(emu, "POST", "/team-api-keys", token=tok,
                 json={"description": "Unauthorized Team API Key", "expires_at_millis": None, "team_id": team_id})
        known_error(r, 404, "API_KEY_NOT_FOUND")
        known_error(call(emu, "GET", "/team-api-keys", token=tok, params={"team_id": team_id}), 404,
                    "API_KEY_NOT_FOUND")
        known_error(call(emu, "GET", f"/team-api-keys/{k['id']}", token=tok, params={"team_id": team_id}), 404,
                    "API_KEY_NOT_FOUND")
        r = call(emu, "PATCH", f"/team-api-keys/{k['id']}", token=tok, params={"team_id": team_id},
                 json={"revoked": True})
        known_error(r, 404, "API_KEY_NOT_FOUND")
    ok(check(emu, "team", k["value"]))  # not revoked
    # A team that does not exist looks the same to a client.
    r = call(emu, "POST", "/team-api-keys", token=member["access_token"],
             json={"description": "x", "expires_at_millis": None, "team_id": str(uuid.uuid4())})
    known_error(r, 404, "API_KEY_NOT_FOUND")
    # Granting the permission directly is enough.
    ok(call(emu, "POST", f"/team-permissions/{team_id}/{member['user_id']}/$manage_api_keys", access="server",
            json={}), 201)
    create_key(emu, "team", member["access_token"], team_id=team_id)
    assert len(ok(call(emu, "GET", "/team-api-keys", token=member["access_token"],
                       params={"team_id": team_id}))["items"]) == 2


def test_server_team_keys(emu):
    t = sign_up(emu)
    team_id = new_team(emu, t["user_id"])
    k = create_key(emu, "team", access="server", team_id=team_id)
    assert k["team_id"] == team_id
    r = call(emu, "POST", "/team-api-keys", access="server",
             json={"description": "x", "expires_at_millis": None, "team_id": str(uuid.uuid4())})
    known_error(r, 404, "TEAM_NOT_FOUND", {"team_id"})
    ok(call(emu, "DELETE", f"/teams/{team_id}", access="server"))
    known_error(check(emu, "team", k["value"]), 404, "API_KEY_NOT_FOUND")


# ---- config switches -----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def user_keys_off():
    e = start_emulator(config=write_config({**PASSWORD_AUTH, "apiKeys": {"enabled": {"user": False, "team": True}}}))
    yield e
    e.stop()


def test_disabled_user_keys(user_keys_off):
    emu = user_keys_off
    t = sign_up(emu)
    tok = t["access_token"]
    r = call(emu, "POST", "/user-api-keys", token=tok,
             json={"user_id": "me", "description": "This should fail", "expires_at_millis": None})
    text_error(r, 400, USER_DISABLED)
    text_error(call(emu, "GET", "/user-api-keys", token=tok, params={"user_id": "me"}), 400, USER_DISABLED)
    text_error(call(emu, "GET", f"/user-api-keys/{uuid.uuid4()}", token=tok), 400, USER_DISABLED)
    text_error(call(emu, "PATCH", f"/user-api-keys/{uuid.uuid4()}", token=tok, json={}), 400, USER_DISABLED)
    text_error(check(emu, "user", "sk_whatever"), 400, USER_DISABLED)
    # Team keys stay available.
    team_id = new_team(emu, t["user_id"])
    k = create_key(emu, "team", tok, team_id=team_id, description="This should work")
    assert k["type"] == "team"
    ok(check(emu, "team", k["value"]))


def test_disabled_team_keys():
    emu = start_emulator(config=write_config({**PASSWORD_AUTH, "apiKeys": {"enabled": {"user": True, "team": False}}}))
    try:
        t = sign_up(emu)
        team_id = new_team(emu, t["user_id"])
        r = call(emu, "POST", "/team-api-keys", token=t["access_token"],
                 json={"team_id": team_id, "description": "x", "expires_at_millis": None})
        text_error(r, 400, TEAM_DISABLED)
        text_error(call(emu, "GET", "/team-api-keys", access="server", params={"team_id": team_id}), 400, TEAM_DISABLED)
        text_error(check(emu, "team", "sk_whatever"), 400, TEAM_DISABLED)
        ok(check(emu, "user", create_key(emu, "user", t["access_token"])["value"]))
    finally:
        emu.stop()


# ---- credential scanning -------------------------------------------------------------------------------------------

def test_leaked_keys_are_revoked_and_their_owners_told(emu):
    def revoke(secret):
        return call(emu, "POST", "/integrations/credential-scanning/revoke", access="server", json={"api_key": secret})

    owner = sign_up(emu)
    leaked = create_key(emu, "user", owner["access_token"], description="CI <deploy> key")
    assert ok(revoke(leaked["value"])) == {"success": True}
    known_error(check(emu, "user", leaked["value"]), 401, "API_KEY_REVOKED")
    with emu.http() as h:
        mail = h.get("/emulator/inbox/wait", params={"to": owner["email"], "subject": "API Key Revoked",
                                                      "since": 0, "timeout": 10}).json()
    assert mail["subject"] == "API Key Revoked: CI <deploy> key" and "&lt;deploy&gt;" in mail["html"]
    assert ok(revoke(leaked["value"])) == {"success": True}  # already revoked: nothing more happens

    team_id = new_team(emu, owner["user_id"])
    member = sign_up(emu)
    add_member(emu, team_id, member["user_id"])  # a member without $manage_api_keys hears nothing
    team_key = create_key(emu, "team", access="server", team_id=team_id, description="team key")
    ok(revoke(team_key["value"]))
    with emu.http() as h:
        to_owner = h.get("/emulator/inbox/wait", params={"to": owner["email"], "subject": "team key", "since": 0,
                                                          "timeout": 10})
        assert to_owner.status_code == 200
        messages = h.get("/emulator/inbox/messages", params={"to": member["email"]}).json()["items"]
    assert not [m for m in messages if "team key" in m["subject"]]

    public = create_key(emu, "user", owner["access_token"], is_public=True)
    known_error(revoke(public["value"]), 400, "PUBLIC_API_KEY_CANNOT_BE_REVOKED")
    known_error(revoke("sk_not_a_key"), 404, "API_KEY_NOT_FOUND")
