"""Team and project permissions over HTTP: definitions from hexclave.config.py (with the system `$` permissions and
the default roles), grant, revoke, direct and recursive listing, the reference's errors, client restrictions, the
sign-up defaults, and config edits taking effect on the next request without losing grants.

Reference: apps/backend/src/lib/permissions.tsx, lib/request-checks.tsx, app/api/latest/team-permissions/crud.tsx,
project-permissions/crud.tsx, and the e2e team-permissions / project-permissions snapshots.
"""
from __future__ import annotations

import time
import uuid

import pytest

from support import start_emulator
from wire import call, create_user, known_error, ok, schema_error, sign_up, text_error, unique, write_config

# admin > editor > viewer (three levels), editor also holds $update_team; beta is a project permission.
RBAC = {
    "permissions": {
        "viewer": {"scope": "team", "description": "Sees things"},
        "editor": {"scope": "team", "containedPermissionIds": {"viewer": True, "$update_team": True}},
        "admin": {"scope": "team", "containedPermissionIds": {"editor": True, "$remove_members": True}},
        "beta": {"scope": "project", "containedPermissionIds": {"beta:read": True}},
        "beta:read": {"scope": "project"},
    },
    "defaultPermissions": {"signUp": {"beta:read": True}},
}
CONFIG = {"auth": {"password": {"allowSignIn": True}}, "teams": {"allowClientTeamCreation": True}, "rbac": RBAC}


@pytest.fixture(scope="module")
def config_path():
    return write_config(CONFIG)


@pytest.fixture(scope="module")
def rbac(config_path):
    e = start_emulator(config=config_path)
    yield e
    e.stop()


def new_team(emu, *members):
    """A server-made team whose members join with the member defaults (team_member)."""
    team = ok(call(emu, "POST", "/teams", access="server", json={"display_name": unique("T ")}), 201)
    for m in members:
        ok(call(emu, "POST", f"/team-memberships/{team['id']}/{m}", access="server", json={}), 201)
    return team["id"]


def grant(emu, team_id, user_id, permission_id):
    return call(emu, "POST", f"/team-permissions/{team_id}/{user_id}/{permission_id}", access="server", json={})


def team_ids(emu, recursive=False, access="server", token=None, **params):
    params["recursive"] = str(recursive).lower()
    listing = ok(call(emu, "GET", "/team-permissions", access=access, token=token, params=params))
    assert listing["is_paginated"] is False
    return [p["id"] for p in listing["items"]]


def project_ids(emu, user_id, recursive=False):
    listing = ok(call(emu, "GET", "/project-permissions", access="server",
                      params={"user_id": user_id, "recursive": str(recursive).lower()}))
    return [p["id"] for p in listing["items"]]


# ---- team permissions -----------------------------------------------------------------------------------------------

def test_grant_lists_direct_and_recursive_three_levels(rbac):
    user = create_user(rbac)["id"]
    team = new_team(rbac, user)
    assert ok(grant(rbac, team, user, "admin"), 201) == {"id": "admin", "user_id": user, "team_id": team}
    assert team_ids(rbac, team_id=team, user_id=user) == ["admin", "team_member"]
    assert team_ids(rbac, recursive=True, team_id=team, user_id=user) == [
        "$invite_members", "$read_members", "$remove_members", "$update_team", "admin", "editor", "team_member",
        "viewer"]
    items = ok(call(rbac, "GET", "/team-permissions", access="server",
                    params={"team_id": team, "user_id": user, "permission_id": "viewer", "recursive": "true"}))["items"]
    assert items == [{"id": "viewer", "user_id": user, "team_id": team}]
    assert ok(grant(rbac, team, user, "admin"), 201)["id"] == "admin"  # granting twice is fine


def test_listing_is_filtered_by_team_and_user(rbac):
    a, b = create_user(rbac)["id"], create_user(rbac)["id"]
    t1, t2 = new_team(rbac, a, b), new_team(rbac, a)
    ok(grant(rbac, t2, a, "viewer"), 201)
    items = ok(call(rbac, "GET", "/team-permissions", access="server", params={"user_id": a}))["items"]
    assert sorted((p["team_id"], p["id"]) for p in items) == sorted(
        [(t1, "team_member"), (t2, "team_member"), (t2, "viewer")])
    items = ok(call(rbac, "GET", "/team-permissions", access="server", params={"team_id": t1}))["items"]
    assert sorted((p["user_id"], p["id"]) for p in items) == sorted([(a, "team_member"), (b, "team_member")])


def test_grant_errors(rbac):
    user = create_user(rbac)["id"]
    team = new_team(rbac, user)
    known_error(grant(rbac, team, user, "nope"), 404, "PERMISSION_NOT_FOUND", {"permission_id": "nope"})
    known_error(grant(rbac, team, user, "beta"), 404, "WRONG_PERMISSION_SCOPE",
                {"permission_id": "beta", "expected_scope": "team", "actual_scope": "project"})
    outsider = create_user(rbac)["id"]
    known_error(grant(rbac, team, outsider, "viewer"), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team, "user_id": outsider})
    known_error(grant(rbac, team, str(uuid.uuid4()), "viewer"), 404, "USER_NOT_FOUND")
    ok(grant(rbac, team, user, "$delete_team"), 201)  # system permissions are grantable directly
    lines = schema_error(grant(rbac, team, user, "Bad-Id"), "POST", f"/api/v1/team-permissions/{team}/{user}/Bad-Id")
    assert lines[0].startswith("params.permission_id")
    schema_error(grant(rbac, team, user, "$fly"), "POST", f"/api/v1/team-permissions/{team}/{user}/$fly")


def test_revoke(rbac):
    user = create_user(rbac)["id"]
    team = new_team(rbac, user)
    ok(grant(rbac, team, user, "editor"), 201)
    path = f"/team-permissions/{team}/{user}"
    known_error(call(rbac, "DELETE", f"{path}/viewer", access="server"), 401, "TEAM_PERMISSION_NOT_FOUND",
                {"team_id": team, "user_id": user, "permission_id": "viewer"})  # only contained, not granted
    assert ok(call(rbac, "DELETE", f"{path}/editor", access="server")) == {"success": True}
    assert team_ids(rbac, recursive=True, team_id=team, user_id=user) == ["$invite_members", "$read_members",
                                                                           "team_member"]
    known_error(call(rbac, "DELETE", f"{path}/editor", access="server"), 401, "TEAM_PERMISSION_NOT_FOUND",
                {"team_id", "user_id", "permission_id"})


def test_client_lists_only_its_own_and_cannot_grant(rbac):
    t = sign_up(rbac)
    other = create_user(rbac)["id"]
    team = new_team(rbac, t["user_id"], other)
    assert team_ids(rbac, access="client", token=t["access_token"], user_id="me", team_id=team) == ["team_member"]
    r = call(rbac, "GET", "/team-permissions", token=t["access_token"], params={"user_id": other, "team_id": team})
    text_error(r, 403)
    text_error(call(rbac, "GET", "/team-permissions", token=t["access_token"]), 403)
    known_error(call(rbac, "GET", "/team-permissions", params={"user_id": "me"}), 400,
                "CANNOT_GET_OWN_USER_WITHOUT_USER")
    r = call(rbac, "POST", f"/team-permissions/{team}/me/admin", token=t["access_token"], json={})
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type": "client",
                                                     "allowed_access_types": ["server", "admin"]})
    r = call(rbac, "DELETE", f"/team-permissions/{team}/me/team_member", token=t["access_token"])
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type": "client",
                                                     "allowed_access_types": ["server", "admin"]})


def test_custom_role_containing_a_system_permission_unlocks_the_action(rbac):
    """Team endpoints check permissions recursively: editor contains $update_team."""
    member = sign_up(rbac)
    team = new_team(rbac, member["user_id"])
    r = call(rbac, "PATCH", f"/teams/{team}", token=member["access_token"], json={"display_name": "mine"})
    known_error(r, 401, "TEAM_PERMISSION_REQUIRED", {"team_id": team, "user_id": member["user_id"],
                                                     "permission_id": "$update_team"})
    ok(grant(rbac, team, member["user_id"], "editor"), 201)
    assert ok(call(rbac, "PATCH", f"/teams/{team}", token=member["access_token"],
                   json={"display_name": "mine"}))["display_name"] == "mine"


# ---- project permissions --------------------------------------------------------------------------------------------

def test_project_permissions_and_sign_up_default(rbac):
    user = create_user(rbac)["id"]
    assert project_ids(rbac, user) == ["beta:read"]  # rbac.defaultPermissions.signUp
    r = call(rbac, "POST", f"/project-permissions/{user}/beta", access="server", json={})
    assert ok(r, 201) == {"id": "beta", "user_id": user}
    assert project_ids(rbac, user) == ["beta", "beta:read"]
    ok(call(rbac, "DELETE", f"/project-permissions/{user}/beta:read", access="server"))
    assert project_ids(rbac, user) == ["beta"]
    assert project_ids(rbac, user, recursive=True) == ["beta", "beta:read"]
    known_error(call(rbac, "DELETE", f"/project-permissions/{user}/beta:read", access="server"), 404,
                "PERMISSION_NOT_FOUND", {"permission_id": "beta:read"})


def test_project_permission_errors_and_client_rules(rbac):
    t = sign_up(rbac)
    user = t["user_id"]
    known_error(call(rbac, "POST", f"/project-permissions/{user}/viewer", access="server", json={}), 404,
                "WRONG_PERMISSION_SCOPE", {"permission_id": "viewer", "expected_scope": "project",
                                           "actual_scope": "team"})
    known_error(call(rbac, "POST", f"/project-permissions/{user}/$update_team", access="server", json={}), 404,
                "PERMISSION_NOT_FOUND", {"permission_id": "$update_team"})
    known_error(call(rbac, "POST", f"/project-permissions/{uuid.uuid4()}/beta", access="server", json={}), 404,
                "USER_NOT_FOUND")
    mine = ok(call(rbac, "GET", "/project-permissions", token=t["access_token"], params={"user_id": "me"}))
    assert mine == {"items": [{"id": "beta:read", "user_id": user}], "is_paginated": False}
    other = create_user(rbac)["id"]
    text_error(call(rbac, "GET", "/project-permissions", token=t["access_token"], params={"user_id": other}), 403)
    known_error(call(rbac, "POST", "/project-permissions/me/beta", token=t["access_token"], json={}), 401,
                "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type", "allowed_access_types"})


# ---- hot reload -----------------------------------------------------------------------------------------------------

def rewrite(path, config):
    time.sleep(0.01)  # a new mtime even on coarse clocks
    path.write_text(f"config = {config!r}\n")


def test_config_edits_apply_on_the_next_request_and_keep_grants(rbac, config_path):
    user = create_user(rbac)["id"]
    team = new_team(rbac, user)
    ok(grant(rbac, team, user, "admin"), 201)
    try:
        # admin no longer contains editor: the recursive set shrinks at once.
        changed = {**RBAC, "permissions": {**RBAC["permissions"],
                                           "admin": {"scope": "team", "containedPermissionIds": {"viewer": True}}}}
        rewrite(config_path, {**CONFIG, "rbac": changed})
        assert team_ids(rbac, recursive=True, team_id=team, user_id=user) == [
            "$invite_members", "$read_members", "admin", "team_member", "viewer"]
        # admin removed: the grant is hidden and cannot be granted again...
        removed = {**RBAC, "permissions": {k: v for k, v in RBAC["permissions"].items() if k != "admin"}}
        rewrite(config_path, {**CONFIG, "rbac": removed})
        assert team_ids(rbac, team_id=team, user_id=user) == ["team_member"]
        known_error(grant(rbac, team, user, "admin"), 404, "PERMISSION_NOT_FOUND", {"permission_id": "admin"})
    finally:
        rewrite(config_path, CONFIG)
    # ...and comes back with the definition, since the grant was kept.
    assert team_ids(rbac, team_id=team, user_id=user) == ["admin", "team_member"]


def test_default_roles_exist_without_any_rbac_config():
    e = start_emulator(config=write_config({"auth": {"password": {"allowSignIn": True}}}))
    try:
        user = create_user(e)["id"]
        team = ok(call(e, "POST", "/teams", access="server", json={"display_name": "d", "creator_user_id": user}), 201)
        assert team_ids(e, recursive=True, team_id=team["id"], user_id=user) == [
            "$delete_team", "$invite_members", "$manage_api_keys", "$read_members", "$remove_members",
            "$update_team", "team_admin"]
        text = ok(call(e, "GET", "/team-permissions", access="server", params={"permission_id": "team_admin"}))
        assert [p["user_id"] for p in text["items"]] == [user]
    finally:
        e.stop()
