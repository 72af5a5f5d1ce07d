"""Projects managed like the dashboard and StackAdminApp do: /internal/projects (create, list), admin access tokens
of internal-project users, /internal/projects/current (read, update, delete with all data), /internal/api-keys,
/internal/local-emulator/project, two projects side by side, and the schema migration of older data files.

Reference: apps/backend/src/app/api/latest/internal/projects/**, internal/api-keys/**, internal/local-emulator/**,
route-handlers/smart-request.tsx (admin access tokens), lib/config.tsx (legacy config view), and the e2e
internal/projects and api-keys snapshots.
"""
from __future__ import annotations

import sqlite3
import tempfile
import uuid
from pathlib import Path

import pytest

from support import INTERNAL_PCK, start_emulator
from wire import UUID_RE, call, known_error, ok, schema_error, sign_up, text_error, unique, write_config

ADMIN_PROJECT_KEYS = {"id", "display_name", "description", "logo_url", "logo_full_url", "logo_dark_mode_url",
                      "logo_full_dark_mode_url", "created_at_millis", "is_production_mode", "owner_team_id",
                      "onboarding_status", "config"}
NEW_PROJECT_CONFIG = {
    "allow_localhost": True, "allow_team_api_keys": False, "allow_user_api_keys": False,
    "client_team_creation_enabled": False, "client_user_deletion_enabled": False, "create_team_on_sign_up": False,
    "credential_enabled": True, "domains": [], "email_config": {"type": "shared"},
    "enabled_oauth_providers": [], "magic_link_enabled": False, "oauth_account_merge_strategy": "link_method",
    "oauth_providers": [], "passkey_enabled": False, "sign_up_enabled": True,
    "team_creator_default_permissions": [{"id": "team_admin"}],
    "team_member_default_permissions": [{"id": "team_member"}], "user_default_permissions": [],
}


def dashboard_user(emu):
    """A user of the internal project (a "project owner") with their personal team."""
    t = sign_up(emu, project_id="internal", key=INTERNAL_PCK)
    teams = ok(call(emu, "GET", "/teams", project_id="internal", key=INTERNAL_PCK, token=t["access_token"],
                    params={"user_id": "me"}))["items"]
    return {**t, "team_id": teams[0]["id"]}


def create_project(emu, owner, **body):
    body = {"display_name": unique("Project "), "owner_team_id": owner["team_id"], **body}
    return call(emu, "POST", "/internal/projects", project_id="internal", key=INTERNAL_PCK,
                token=owner["access_token"], json=body)


def as_owner(emu, owner, method, path, project_id, access="admin", **kw):
    headers = {"x-stack-admin-access-token": owner["access_token"], **kw.pop("headers", {})}
    return call(emu, method, path, access=access, project_id=project_id, key="", headers=headers, **kw)


@pytest.fixture(scope="module")
def owner(emu):
    return dashboard_user(emu)


@pytest.fixture(scope="module")
def project(emu, owner):
    return ok(create_project(emu, owner, description="made by a test"), 201)


def test_create_project_shape_and_defaults(project, owner):
    assert set(project) == ADMIN_PROJECT_KEYS
    assert UUID_RE.match(project["id"])
    assert project["owner_team_id"] == owner["team_id"]
    assert project["description"] == "made by a test"
    assert project["is_production_mode"] is False and project["onboarding_status"] == "completed"
    config = dict(project["config"])
    assert UUID_RE.match(config.pop("email_theme"))
    assert config == NEW_PROJECT_CONFIG


def test_list_projects_is_per_user(emu, owner, project):
    listing = ok(call(emu, "GET", "/internal/projects", project_id="internal", key=INTERNAL_PCK,
                      token=owner["access_token"]))
    assert listing["is_paginated"] is False
    assert project["id"] in [p["id"] for p in listing["items"]]
    other = dashboard_user(emu)
    assert ok(call(emu, "GET", "/internal/projects", project_id="internal", key=INTERNAL_PCK,
                   token=other["access_token"]))["items"] == []
    known_error(call(emu, "GET", "/internal/projects", project_id="internal", key=INTERNAL_PCK), 401,
                "USER_AUTHENTICATION_REQUIRED")
    t = sign_up(emu)
    known_error(call(emu, "GET", "/internal/projects", token=t["access_token"]), 401, "EXPECTED_INTERNAL_PROJECT")


def test_create_needs_membership_of_the_owner_team(emu, owner):
    other = dashboard_user(emu)
    r = create_project(emu, owner, owner_team_id=other["team_id"])
    known_error(r, 404, "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id": other["team_id"], "user_id": owner["user_id"]})


def test_transfer_project_to_another_team_of_the_user(emu, owner):
    moved = ok(create_project(emu, owner), 201)
    other = dashboard_user(emu)  # owner joins other's personal team as a plain member
    ok(call(emu, "POST", f"/team-memberships/{other['team_id']}/{owner['user_id']}", access="server",
            project_id="internal", json={}), 201)

    def transfer(who, project_id, team_id):
        return call(emu, "POST", "/internal/projects/transfer", project_id="internal", key=INTERNAL_PCK,
                    token=who["access_token"], json={"project_id": project_id, "new_team_id": team_id})

    assert ok(transfer(owner, moved["id"], other["team_id"])) == {"success": "true"}
    listing = ok(call(emu, "GET", "/internal/projects", project_id="internal", key=INTERNAL_PCK,
                      token=other["access_token"]))["items"]
    assert [p["owner_team_id"] for p in listing if p["id"] == moved["id"]] == [other["team_id"]]
    # owner is only a member of the new owner team now: not allowed to move it again
    known_error(transfer(owner, moved["id"], owner["team_id"]), 401, "TEAM_PERMISSION_REQUIRED",
                {"team_id": other["team_id"], "user_id": owner["user_id"], "permission_id": "team_admin"})
    known_error(transfer(other, moved["id"], owner["team_id"]), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": owner["team_id"], "user_id": other["user_id"]})
    missing = str(uuid.uuid4())
    known_error(transfer(owner, missing, owner["team_id"]), 404, "PROJECT_NOT_FOUND", {"project_id": missing})


def test_legacy_config_rules_of_the_project_update(emu, owner):
    fresh = ok(create_project(emu, owner), 201)

    def patch(config):
        return as_owner(emu, owner, "PATCH", "/internal/projects/current", fresh["id"], json={"config": config})

    path = "/api/v1/internal/projects/current"
    assert schema_error(patch({"email_config": {"type": "standard"}}), "PATCH", path) == [
        f"body.config.email_config.{f} must be defined"
        for f in ("host", "port", "username", "password", "sender_name", "sender_email")]
    smtp = {"type": "standard", "host": "", "port": 587, "username": "u", "password": "p", "sender_name": "n",
            "sender_email": "n@example.com"}
    assert schema_error(patch({"email_config": smtp}), "PATCH", path) == [
        "body.config.email_config.host must not be empty"]
    assert schema_error(patch({"oauth_providers": [{"id": "google", "type": "standard", "client_id": "id",
                                                    "client_secret": ""}]}), "PATCH", path) == [
        "body.config.oauth_providers[0].client_secret must not be empty"]
    assert schema_error(patch({"domains": [{"domain": "ftp://example.com", "handler_path": "/h"}]}), "PATCH",
                        path) == ["URL must start with http:// or https://"]
    # a shared provider and a default-permission list that replaces the built-in default
    config = ok(patch({"oauth_providers": [{"id": "google", "type": "shared"}],
                       "team_member_default_permissions": [{"id": "team_admin"}]}))["config"]
    assert config["enabled_oauth_providers"] == [{"id": "google"}]
    assert config["team_member_default_permissions"] == [{"id": "team_admin"}]
    dark = "a0172b5d-cff0-463b-83bb-85124697373a"  # a built-in theme is always selectable
    assert ok(patch({"email_theme": dark}))["config"]["email_theme"] == dark
    assert patch({"email_theme": str(uuid.uuid4())}).status_code == 400
    # Apple bundle ids of the legacy provider reach the native Apple sign-in route
    ok(patch({"oauth_providers": [{"id": "apple", "type": "standard", "client_id": "com.example.web",
                                   "client_secret": "s", "apple_bundle_ids": ["com.example.ios"]}]}))
    known_error(as_owner(emu, owner, "POST", "/auth/oauth/callback/apple/native", fresh["id"], access="client",
                         json={"id_token": "not-a-token"}), 400, "INVALID_APPLE_CREDENTIALS")


def test_admin_access_token_grants_the_owned_project_only(emu, owner, project):
    got = ok(as_owner(emu, owner, "GET", "/internal/projects/current", project["id"]))
    assert got == project
    # The token stands in for any access type's key.
    created = ok(as_owner(emu, owner, "POST", "/users", project["id"], access="server",
                          json={"primary_email": f"{unique()}@example.com"}), 201)
    assert UUID_RE.match(created["id"])
    stranger = dashboard_user(emu)
    known_error(as_owner(emu, stranger, "GET", "/internal/projects/current", project["id"]), 401,
                "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN")
    known_error(as_owner(emu, {"access_token": "garbage"}, "GET", "/internal/projects/current", project["id"]), 401,
                "UNPARSABLE_ADMIN_ACCESS_TOKEN")
    app_user = sign_up(emu)  # a user of another project is no dashboard user
    known_error(as_owner(emu, app_user, "GET", "/internal/projects/current", emu.project_id), 401,
                "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN")
    known_error(as_owner(emu, owner, "GET", "/internal/projects/current", emu.project_id), 401,
                "ADMIN_ACCESS_TOKEN_IS_NOT_ADMIN")


def test_update_current_project(emu, owner):
    p = ok(create_project(emu, owner), 201)
    updated = ok(as_owner(emu, owner, "PATCH", "/internal/projects/current", p["id"], json={
        "display_name": "Renamed", "description": "new", "config": {
            "sign_up_enabled": False, "allow_user_api_keys": True, "client_team_creation_enabled": True,
            "domains": [{"domain": "https://app.example.com", "handler_path": "/handler"}],
            "user_default_permissions": []}}))
    assert updated["display_name"] == "Renamed" and updated["description"] == "new"
    assert updated["config"]["sign_up_enabled"] is False
    assert updated["config"]["domains"] == [{"domain": "https://app.example.com", "handler_path": "/handler"}]
    client_view = ok(call(emu, "GET", "/projects/current", project_id=p["id"], key=""))
    assert client_view["display_name"] == "Renamed"
    assert client_view["config"]["sign_up_enabled"] is False
    assert client_view["config"]["allow_user_api_keys"] is True
    r = call(emu, "POST", "/auth/password/sign-up", project_id=p["id"], key="",
             json={"email": f"{unique()}@example.com", "password": "correct-horse-battery"})
    known_error(r, 400, "SIGN_UP_NOT_ENABLED")


def test_key_sets_create_use_list_revoke(emu, owner):
    p = ok(create_project(emu, owner), 201)
    created = ok(as_owner(emu, owner, "POST", "/internal/api-keys", p["id"], json={
        "description": "ci", "expires_at_millis": 4_000_000_000_000, "has_publishable_client_key": True,
        "has_secret_server_key": True, "has_super_secret_admin_key": False}))
    assert created["publishable_client_key"].startswith("pck_") and created["secret_server_key"].startswith("ssk_")
    assert "super_secret_admin_key" not in created
    ssk = created["secret_server_key"]
    ok(call(emu, "GET", "/users", access="server", project_id=p["id"], key=ssk))
    listing = ok(as_owner(emu, owner, "GET", "/internal/api-keys", p["id"]))["items"]
    mine = next(k for k in listing if k["id"] == created["id"])
    assert mine["secret_server_key"] == {"last_four": ssk[-4:]} and mine["expires_at_millis"] == 4_000_000_000_000
    revoked = ok(as_owner(emu, owner, "PATCH", f"/internal/api-keys/{created['id']}", p["id"], json={"revoked": True}))
    assert isinstance(revoked["manually_revoked_at_millis"], int)
    known_error(call(emu, "GET", "/users", access="server", project_id=p["id"], key=ssk), 401,
                "INVALID_SECRET_SERVER_KEY", {"project_id": p["id"]})
    known_error(as_owner(emu, owner, "GET", f"/internal/api-keys/{uuid.uuid4()}", p["id"]), 404, "API_KEY_NOT_FOUND")


def test_two_projects_side_by_side_and_delete(emu, owner):
    a, b = ok(create_project(emu, owner), 201), ok(create_project(emu, owner), 201)
    email = f"same-{unique()}@example.com"
    ids = {}
    for p in (a, b):
        t = ok(call(emu, "POST", "/auth/password/sign-up", project_id=p["id"], key="",
                    json={"email": email, "password": "correct-horse-battery"}))
        ids[p["id"]] = t["user_id"]
        ok(as_owner(emu, owner, "POST", "/teams", p["id"], access="server",
                    json={"display_name": "Same team", "creator_user_id": t["user_id"]}), 201)
    assert ids[a["id"]] != ids[b["id"]]
    for p in (a, b):
        users = ok(as_owner(emu, owner, "GET", "/users", p["id"], access="server"))["items"]
        assert [u["id"] for u in users] == [ids[p["id"]]]
        teams = ok(as_owner(emu, owner, "GET", "/teams", p["id"], access="server"))["items"]
        assert len(teams) == 1
    known_error(as_owner(emu, owner, "GET", f"/users/{ids[b['id']]}", a["id"], access="server"), 404,
                "USER_NOT_FOUND")
    assert ok(as_owner(emu, owner, "DELETE", "/internal/projects/current", a["id"])) == {"success": True}
    known_error(call(emu, "GET", "/projects/current", project_id=a["id"], key=""), 400, "CURRENT_PROJECT_NOT_FOUND",
                {"project_id": a["id"]})
    assert len(ok(as_owner(emu, owner, "GET", "/users", b["id"], access="server"))["items"]) == 1
    listing = ok(call(emu, "GET", "/internal/projects", project_id="internal", key=INTERNAL_PCK,
                      token=owner["access_token"]))
    assert a["id"] not in [p["id"] for p in listing["items"]]


# ---- the official emulator's project mapping ----------------------------------------------------------------------

def local_project(emu, path):
    return call(emu, "POST", "/internal/local-emulator/project", project_id="internal", key=INTERNAL_PCK,
                json={"absolute_file_path": str(path)})


def test_local_emulator_project_mapping(emu):
    first = write_config({"auth": {"allowSignUp": True, "password": {"allowSignIn": True}}})
    second = write_config({"auth": {"password": {"allowSignIn": True}}})
    got = ok(local_project(emu, first))
    assert set(got) == {"project_id", "publishable_client_key", "secret_server_key", "super_secret_admin_key",
                        "branch_config_override_string"}
    assert got["secret_server_key"].startswith("ssk_") and got["super_secret_admin_key"].startswith("sak_")
    assert ok(local_project(emu, first)) == got
    other = ok(local_project(emu, second))
    assert other["project_id"] != got["project_id"]
    ok(call(emu, "GET", "/users", access="server", project_id=got["project_id"], key=got["secret_server_key"]))
    # The project follows its file: turning sign-up off applies to the next request.
    first.write_text("config = {'auth': {'allowSignUp': False, 'password': {'allowSignIn': True}}}\n")
    r = call(emu, "POST", "/auth/password/sign-up", project_id=got["project_id"], key=got["publishable_client_key"],
             json={"email": f"{unique()}@example.com", "password": "correct-horse-battery"})
    known_error(r, 400, "SIGN_UP_NOT_ENABLED")
    text_error(local_project(emu, "relative/hexclave.config.py"), 400, "absolute_file_path must be an absolute path.")
    missing = Path(tempfile.mkdtemp()) / "hexclave.config.py"
    text_error(local_project(emu, missing), 400, f"Config file not found: {missing}")


def test_local_emulator_project_loads_only_config_files(emu, tmp_path):
    """The file is executed, so a page or tool cannot have any other Python file on disk run through it."""
    ran = tmp_path / "ran"
    script = tmp_path / "script.py"
    script.write_text(f"open({str(ran)!r}, 'w').write('ran')\nconfig = {{}}\n")
    text_error(local_project(emu, script), 400, "Only config files may be loaded: the file must be named "
               "hexclave.config.EXT or stack.config.EXT, with EXT one of py, ts, js, mts, mjs.")
    assert not ran.exists()
    named = tmp_path / "stack.config.py"
    named.write_text("config = {}\n")
    assert ok(local_project(emu, named))["branch_config_override_string"] == "{}"


def test_local_emulator_admin_user_administers_config_file_projects(emu):
    t = ok(call(emu, "POST", "/auth/password/sign-in", project_id="internal", key=INTERNAL_PCK,
                json={"email": "local-emulator@stack-auth.com", "password": "LocalEmulatorPassword"}))
    got = ok(as_owner(emu, t, "GET", "/internal/projects/current", emu.project_id))
    assert got["id"] == emu.project_id and got["owner_team_id"] == "5a0c858b-d9e9-49d4-9943-8ce385d86428"


# ---- data files of the previous schema ----------------------------------------------------------------------------

def test_version_1_data_file_is_migrated():
    data_dir = Path(tempfile.mkdtemp(prefix="hexclave-migrate-"))
    e = start_emulator("--data-dir", str(data_dir), in_memory=False)
    project_id = e.project_id
    e.stop()
    db = sqlite3.connect(data_dir / "emulator.sqlite3")
    db.execute("DROP INDEX ix_projects_owner_team_id")
    for column in ("owner_team_id", "is_production_mode", "logo_url", "logo_full_url", "logo_dark_mode_url",
                   "logo_full_dark_mode_url", "onboarding_status"):
        db.execute(f"ALTER TABLE projects DROP COLUMN {column}")
    db.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    db.commit()
    db.close()
    e = start_emulator("--data-dir", str(data_dir), in_memory=False)
    try:
        assert e.project_id == project_id
        ok(call(e, "GET", "/users", access="server"))
        assert sqlite3.connect(data_dir / "emulator.sqlite3").execute(
            "SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0] == "2"
    finally:
        e.stop()
