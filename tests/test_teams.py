"""Teams and team memberships over HTTP: create (client and server rules), list, read, update, delete, join and
leave, the creator/member default permissions, selected team, and personal teams on sign-up.

Reference: apps/backend/src/app/api/latest/teams/crud.tsx, team-memberships/crud.tsx, lib/request-checks.tsx,
users/crud.tsx (personal team), and the e2e teams/team-memberships/anonymous-upgrade snapshots.
"""
from __future__ import annotations

import uuid

import pytest

from support import start_emulator
from wire import (ALLOW_ANON, anon_sign_up, assert_stored_image, call, create_user, known_error, me, ok, schema_error, sign_up, text_error,
                  unique, write_config)

CLIENT_TEAM_KEYS = {"id", "display_name", "profile_image_url", "client_metadata", "client_read_only_metadata"}
SERVER_TEAM_KEYS = CLIENT_TEAM_KEYS | {"created_at_millis", "server_metadata"}
GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="
TEAM_ADMIN_PERMISSIONS = ["$delete_team", "$invite_members", "$manage_api_keys", "$read_members", "$remove_members",
                          "$update_team", "team_admin"]


def server_team(emu, creator_id=None, **fields):
    body = {"display_name": unique("Team "), **fields}
    if creator_id:
        body["creator_user_id"] = creator_id
    return ok(call(emu, "POST", "/teams", access="server", json=body), 201)


def client_team(emu, token, **fields):
    return ok(call(emu, "POST", "/teams", token=token, json={"display_name": unique("Team "), **fields}), 201)


def add_member(emu, team_id, user_id):
    return ok(call(emu, "POST", f"/team-memberships/{team_id}/{user_id}", access="server", json={}), 201)


def team_permissions(emu, team_id, user_id, recursive=False):
    listing = ok(call(emu, "GET", "/team-permissions", access="server",
                      params={"team_id": team_id, "user_id": user_id, "recursive": str(recursive).lower()}))
    return sorted(p["id"] for p in listing["items"])


def member_ids(emu, team_id):
    listing = ok(call(emu, "GET", "/users", access="server", params={"team_id": team_id}))
    return {u["id"] for u in listing["items"]}


@pytest.fixture
def owner(emu):
    """A signed-up user with a team they created (so they hold team_admin)."""
    t = sign_up(emu)
    team = client_team(emu, t["access_token"])
    return {**t, "team": team}


# ---- create ---------------------------------------------------------------------------------------------------------

def test_server_create_without_creator_makes_an_empty_team(emu):
    team = server_team(emu, client_metadata={"a": 1}, client_read_only_metadata={"b": 2}, server_metadata={"c": 3})
    assert set(team) == SERVER_TEAM_KEYS
    assert team["client_metadata"] == {"a": 1} and team["server_metadata"] == {"c": 3}
    assert team["profile_image_url"] is None
    assert member_ids(emu, team["id"]) == set()


def test_server_create_with_creator_grants_team_admin(emu):
    user = create_user(emu)
    team = server_team(emu, creator_id=user["id"])
    assert member_ids(emu, team["id"]) == {user["id"]}
    assert team_permissions(emu, team["id"], user["id"]) == ["team_admin"]
    assert team_permissions(emu, team["id"], user["id"], recursive=True) == TEAM_ADMIN_PERMISSIONS


def test_server_create_with_unknown_creator_creates_nothing(emu):
    name = unique("Ghost team ")
    r = call(emu, "POST", "/teams", access="server", json={"display_name": name, "creator_user_id": str(uuid.uuid4())})
    known_error(r, 404, "USER_NOT_FOUND")
    listing = ok(call(emu, "GET", "/teams", access="server"))
    assert name not in [t["display_name"] for t in listing["items"]]


def test_client_create_makes_the_caller_creator(emu):
    t = sign_up(emu)
    team = client_team(emu, t["access_token"], profile_image_url=GIF, client_metadata={"plan": "free"})
    assert set(team) == CLIENT_TEAM_KEYS
    assert_stored_image(emu, team["profile_image_url"], GIF, "team-profile-images")
    assert member_ids(emu, team["id"]) == {t["user_id"]}
    assert team_permissions(emu, team["id"], t["user_id"]) == ["team_admin"]
    me_team = client_team(emu, t["access_token"], creator_user_id="me")
    assert member_ids(emu, me_team["id"]) == {t["user_id"]}


def test_client_create_rules(emu):
    t = sign_up(emu)
    other = create_user(emu)
    r = call(emu, "POST", "/teams", token=t["access_token"], json={"display_name": "x", "creator_user_id": other["id"]})
    text_error(r, 403)
    known_error(call(emu, "POST", "/teams", json={"display_name": "x"}), 401, "USER_AUTHENTICATION_REQUIRED")
    r = call(emu, "POST", "/teams", token=t["access_token"], json={"display_name": "x", "profile_image_url": "https://e.com/a.png"})
    text_error(r, 400, "Invalid profile image URL")
    r = call(emu, "POST", "/teams", token=t["access_token"], json={"display_name": "x", "server_metadata": {}})
    assert any("server_metadata" in line for line in schema_error(r, "POST", "/api/v1/teams"))
    r = call(emu, "POST", "/teams", token=t["access_token"], params={"add_current_user": "true"},
             json={"display_name": "x", "creator_user_id": "me"})
    text_error(r, 400)
    assert "display_name must be defined" in schema_error(call(emu, "POST", "/teams", access="server", json={}),
                                                          "POST", "/api/v1/teams")[0]


def test_client_create_disabled_by_config():
    e = start_emulator(config=write_config({"auth": {"password": {"allowSignIn": True}},
                                            "teams": {"allowClientTeamCreation": False}}))
    try:
        t = sign_up(e)
        r = call(e, "POST", "/teams", token=t["access_token"], json={"display_name": "x"})
        text_error(r, 403, "Client team creation is disabled for this project")
        server_team(e, creator_id=t["user_id"])  # the server still can
    finally:
        e.stop()


# ---- list and read --------------------------------------------------------------------------------------------------

def test_client_lists_own_teams_in_creation_order(emu, owner):
    token = owner["access_token"]
    second = client_team(emu, token)
    outsider_team = server_team(emu, creator_id=create_user(emu)["id"])
    listing = ok(call(emu, "GET", "/teams", token=token, params={"user_id": "me"}))
    assert listing["is_paginated"] is False
    assert [t["id"] for t in listing["items"]] == [owner["team"]["id"], second["id"]]
    assert all(set(t) == CLIENT_TEAM_KEYS for t in listing["items"])
    same = ok(call(emu, "GET", "/teams", token=token, params={"user_id": owner["user_id"]}))
    assert same["items"] == listing["items"]
    assert outsider_team["id"] not in [t["id"] for t in same["items"]]


def test_client_cannot_list_other_users_teams(emu, owner):
    other = create_user(emu)
    text_error(call(emu, "GET", "/teams", token=owner["access_token"], params={"user_id": other["id"]}), 403)
    text_error(call(emu, "GET", "/teams", token=owner["access_token"]), 403)
    known_error(call(emu, "GET", "/teams", params={"user_id": "me"}), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


def test_server_lists_any_users_teams_with_sdk_paging_params(emu, owner):
    listing = ok(call(emu, "GET", "/teams", access="server",
                      params={"user_id": owner["user_id"], "order_by": "created_at", "desc": "true", "limit": "10"}))
    assert [t["id"] for t in listing["items"]] == [owner["team"]["id"]]
    assert set(listing["items"][0]) == SERVER_TEAM_KEYS


def test_client_reads_only_teams_it_belongs_to(emu, owner):
    team_id = owner["team"]["id"]
    got = ok(call(emu, "GET", f"/teams/{team_id}", token=owner["access_token"]))
    assert got == owner["team"]
    stranger = sign_up(emu)
    known_error(call(emu, "GET", f"/teams/{team_id}", token=stranger["access_token"]), 404,
                "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id": team_id, "user_id": stranger["user_id"]})
    known_error(call(emu, "GET", f"/teams/{team_id}"), 401, "USER_AUTHENTICATION_REQUIRED")


def test_server_read_of_unknown_team(emu):
    team_id = str(uuid.uuid4())
    known_error(call(emu, "GET", f"/teams/{team_id}", access="server"), 404, "TEAM_NOT_FOUND", {"team_id": team_id})
    assert "params.team_id must be a valid UUID" in schema_error(
        call(emu, "GET", "/teams/nope", access="server"), "GET", "/api/v1/teams/nope")


# ---- update and delete ----------------------------------------------------------------------------------------------

def test_creator_updates_team_and_member_without_permission_cannot(emu, owner):
    team_id, token = owner["team"]["id"], owner["access_token"]
    updated = ok(call(emu, "PATCH", f"/teams/{team_id}", token=token,
                      json={"display_name": "Renamed", "client_metadata": {"x": 1}, "profile_image_url": GIF}))
    assert updated["display_name"] == "Renamed" and updated["client_metadata"] == {"x": 1}
    assert_stored_image(emu, updated["profile_image_url"], GIF, "team-profile-images")
    member = sign_up(emu)
    add_member(emu, team_id, member["user_id"])
    known_error(call(emu, "PATCH", f"/teams/{team_id}", token=member["access_token"], json={"display_name": "Mine"}),
                401, "TEAM_PERMISSION_REQUIRED",
                {"team_id": team_id, "user_id": member["user_id"], "permission_id": "$update_team"})
    known_error(call(emu, "DELETE", f"/teams/{team_id}", token=member["access_token"]), 401,
                "TEAM_PERMISSION_REQUIRED", {"team_id": team_id, "user_id": member["user_id"],
                                             "permission_id": "$delete_team"})
    stranger = sign_up(emu)
    known_error(call(emu, "PATCH", f"/teams/{team_id}", token=stranger["access_token"], json={}), 404,
                "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id": team_id, "user_id": stranger["user_id"]})
    r = call(emu, "PATCH", f"/teams/{team_id}", token=token, json={"client_read_only_metadata": {}})
    assert any("client_read_only_metadata" in line for line in schema_error(r, "PATCH", f"/api/v1/teams/{team_id}"))


def test_server_updates_every_field(emu):
    team = server_team(emu)
    updated = ok(call(emu, "PATCH", f"/teams/{team['id']}", access="server", json={
        "display_name": "S", "profile_image_url": "https://example.com/t.png", "client_metadata": None,
        "client_read_only_metadata": {"ro": True}, "server_metadata": {"secret": 1}}))
    assert updated == {**team, "display_name": "S", "profile_image_url": "https://example.com/t.png",
                       "client_metadata": None, "client_read_only_metadata": {"ro": True},
                       "server_metadata": {"secret": 1}}
    assert ok(call(emu, "GET", f"/teams/{team['id']}", access="server")) == updated
    missing = str(uuid.uuid4())
    known_error(call(emu, "PATCH", f"/teams/{missing}", access="server", json={}), 404, "TEAM_NOT_FOUND",
                {"team_id": missing})


def test_delete_team_unselects_it(emu, owner):
    team_id, token = owner["team"]["id"], owner["access_token"]
    ok(call(emu, "PATCH", "/users/me", token=token, json={"selected_team_id": team_id}))
    assert ok(me(emu, token))["selected_team"]["id"] == team_id
    assert ok(call(emu, "DELETE", f"/teams/{team_id}", token=token)) == {"success": True}
    u = ok(me(emu, token))
    assert u["selected_team_id"] is None and u["selected_team"] is None
    known_error(call(emu, "GET", f"/teams/{team_id}", access="server"), 404, "TEAM_NOT_FOUND", {"team_id": team_id})


# ---- memberships ----------------------------------------------------------------------------------------------------

def test_add_member_grants_member_defaults_and_rejects_duplicates(emu, owner):
    team_id = owner["team"]["id"]
    user = create_user(emu)
    assert add_member(emu, team_id, user["id"]) == {"team_id": team_id, "user_id": user["id"]}
    assert team_permissions(emu, team_id, user["id"]) == ["team_member"]
    assert team_permissions(emu, team_id, user["id"], recursive=True) == ["$invite_members", "$read_members",
                                                                            "team_member"]
    r = call(emu, "POST", f"/team-memberships/{team_id}/{user['id']}", access="server", json={})
    known_error(r, 409, "TEAM_MEMBERSHIP_ALREADY_EXISTS")


def test_add_member_errors(emu, owner):
    team_id = owner["team"]["id"]
    known_error(call(emu, "POST", f"/team-memberships/{team_id}/{uuid.uuid4()}", access="server", json={}), 404,
                "USER_NOT_FOUND")
    missing = str(uuid.uuid4())
    known_error(call(emu, "POST", f"/team-memberships/{missing}/{owner['user_id']}", access="server", json={}), 404,
                "TEAM_NOT_FOUND", {"team_id": missing})
    known_error(call(emu, "POST", f"/team-memberships/{team_id}/me", token=owner["access_token"], json={}), 401,
                "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type": "client", "allowed_access_types": ["server", "admin"]})


def test_member_leaves_and_loses_selection_and_permissions(emu, owner):
    team_id = owner["team"]["id"]
    member = sign_up(emu)
    add_member(emu, team_id, member["user_id"])
    token = member["access_token"]
    ok(call(emu, "PATCH", "/users/me", token=token, json={"selected_team_id": team_id}))
    assert ok(call(emu, "DELETE", f"/team-memberships/{team_id}/me", token=token, json={})) == {"success": True}
    assert ok(me(emu, token))["selected_team_id"] is None
    assert team_permissions(emu, team_id, member["user_id"]) == []
    known_error(call(emu, "DELETE", f"/team-memberships/{team_id}/me", token=token, json={}), 404,
                "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id": team_id, "user_id": member["user_id"]})


def test_removing_others_needs_remove_members(emu, owner):
    team_id = owner["team"]["id"]
    a, b = sign_up(emu), sign_up(emu)
    add_member(emu, team_id, a["user_id"])
    add_member(emu, team_id, b["user_id"])
    known_error(call(emu, "DELETE", f"/team-memberships/{team_id}/{b['user_id']}", token=a["access_token"]), 401,
                "TEAM_PERMISSION_REQUIRED", {"team_id": team_id, "user_id": a["user_id"],
                                             "permission_id": "$remove_members"})
    ok(call(emu, "DELETE", f"/team-memberships/{team_id}/{b['user_id']}", token=owner["access_token"]))
    assert member_ids(emu, team_id) == {owner["user_id"], a["user_id"]}
    ok(call(emu, "DELETE", f"/team-memberships/{team_id}/{a['user_id']}", access="server"))
    assert member_ids(emu, team_id) == {owner["user_id"]}


def test_selecting_a_team_needs_membership(emu, owner):
    t = sign_up(emu)
    team_id = owner["team"]["id"]
    known_error(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"selected_team_id": team_id}), 404,
                "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id": team_id, "user_id": t["user_id"]})
    ok(call(emu, "PATCH", "/users/me", token=owner["access_token"], json={"selected_team_id": team_id}))
    u = ok(me(emu, owner["access_token"]))
    assert u["selected_team_id"] == team_id
    assert set(u["selected_team"]) == CLIENT_TEAM_KEYS
    server_view = ok(call(emu, "GET", f"/users/{owner['user_id']}", access="server"))
    assert set(server_view["selected_team"]) == SERVER_TEAM_KEYS
    ok(call(emu, "PATCH", "/users/me", token=owner["access_token"], json={"selected_team_id": None}))
    assert ok(me(emu, owner["access_token"]))["selected_team"] is None


# ---- personal teams -------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def personal():
    e = start_emulator(config=write_config({
        "auth": {"password": {"allowSignIn": True}},
        "teams": {"createPersonalTeamOnSignUp": True, "allowClientTeamCreation": True},
    }))
    yield e
    e.stop()


def test_sign_up_creates_and_selects_a_personal_team(personal):
    t = sign_up(personal)
    u = ok(me(personal, t["access_token"]))
    assert u["selected_team"]["display_name"] == f"{t['email']}'s Team"
    teams = ok(call(personal, "GET", "/teams", token=t["access_token"], params={"user_id": "me"}))["items"]
    assert [x["id"] for x in teams] == [u["selected_team_id"]]
    assert team_permissions(personal, u["selected_team_id"], t["user_id"]) == ["team_admin"]
    named = create_user(personal, display_name="Ada", primary_email="ada-" + unique() + "@example.com")
    listing = ok(call(personal, "GET", "/teams", access="server", params={"user_id": named["id"]}))["items"]
    assert [x["display_name"] for x in listing] == ["Ada's Team"]
    # The create answer shows the user as read before the personal team existed; later reads show it selected.
    assert named["selected_team"] is None and named["selected_team_id"] is None
    assert ok(call(personal, "GET", f"/users/{named['id']}", access="server"))["selected_team_id"] == listing[0]["id"]


def test_anonymous_personal_team_is_renamed_on_upgrade(personal):
    anon = anon_sign_up(personal)
    token = anon["access_token"]
    teams = ok(call(personal, "GET", "/teams", token=token, params={"user_id": "me"}, headers=ALLOW_ANON))["items"]
    assert [x["display_name"] for x in teams] == ["Personal Team"]
    email = f"up-{unique()}@example.com"
    upgraded = ok(call(personal, "POST", "/auth/password/sign-up", token=token, headers=ALLOW_ANON,
                       json={"email": email, "password": "correct-horse-battery"}))
    after = ok(call(personal, "GET", "/teams", token=upgraded["access_token"], params={"user_id": "me"}))["items"]
    assert [(x["id"], x["display_name"]) for x in after] == [(teams[0]["id"], f"{email}'s Team")]


def test_no_personal_team_by_default(emu):
    t = sign_up(emu)
    assert ok(me(emu, t["access_token"]))["selected_team"] is None
    assert ok(call(emu, "GET", "/teams", token=t["access_token"], params={"user_id": "me"}))["items"] == []
