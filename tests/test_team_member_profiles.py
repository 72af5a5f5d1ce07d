"""Team member profiles over HTTP: list, read, update; fallback to the user's name and image; who may see what."""
from wire import (SERVER_USER_KEYS, assert_stored_image, call, create_session, create_user, fresh_email, known_error, ok, schema_error,
                  text_error)

CLIENT_KEYS = {"team_id", "user_id", "display_name", "profile_image_url"}
MISSING_ID = "5f0e7b8a-1111-4222-8333-944445555666"
PNG = ("data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5Er"
       "kJggg==")


def person(emu, name):
    user = create_user(emu, primary_email=fresh_email("prof"), display_name=name)
    return user["id"], create_session(emu, user["id"])["access_token"]


def team_of_three(emu):
    """The e2e setup: a creator (team_admin) and two members; member 1 keeps no permissions at all."""
    creator, creator_token = person(emu, "User 3 (team creator)")
    one, one_token = person(emu, "User 1")
    two, two_token = person(emu, "User 2")
    team_id = ok(call(emu, "POST", "/teams", token=creator_token,
                      json={"display_name": "Crew", "creator_user_id": "me"}), 201)["id"]
    for user_id in (one, two):
        ok(call(emu, "POST", f"/team-memberships/{team_id}/{user_id}", access="server", json={}), 201)
    ok(call(emu, "DELETE", f"/team-permissions/{team_id}/{one}/team_member", access="server", json={}))
    return team_id, (creator, creator_token), (one, one_token), (two, two_token)


def profiles(emu, token=None, **params):
    return call(emu, "GET", "/team-member-profiles", access="client" if token else "server", token=token,
                params=params)


def profile(emu, team_id, user_id, token=None):
    return call(emu, "GET", f"/team-member-profiles/{team_id}/{user_id}", access="client" if token else "server",
                token=token)


def update(emu, team_id, user_id, body, token=None):
    return call(emu, "PATCH", f"/team-member-profiles/{team_id}/{user_id}", access="client" if token else "server",
                token=token, json=body)


def test_client_list_and_read_rules(emu):
    team_id, (creator, creator_token), (one, one_token), (two, _) = team_of_three(emu)

    text_error(profiles(emu, one_token), 400, "team_id is required for access type client")
    need_read = {"team_id": team_id, "user_id": one, "permission_id": "$read_members"}
    known_error(profiles(emu, one_token, team_id=team_id), 401, "TEAM_PERMISSION_REQUIRED", need_read)
    known_error(profile(emu, team_id, two, one_token), 401, "TEAM_PERMISSION_REQUIRED", need_read)

    own = ok(profiles(emu, one_token, team_id=team_id, user_id="me"))
    assert own == {"is_paginated": False, "items": [
        {"team_id": team_id, "user_id": one, "display_name": "User 1", "profile_image_url": None}]}
    assert ok(profile(emu, team_id, "me", one_token)) == own["items"][0]

    ok(call(emu, "POST", f"/team-permissions/{team_id}/{one}/$read_members", access="server", json={}), 201)
    items = ok(profiles(emu, one_token, team_id=team_id))["items"]
    assert [(p["user_id"], p["display_name"]) for p in items] == [
        (creator, "User 3 (team creator)"), (one, "User 1"), (two, "User 2")]  # in joining order
    assert all(set(p) == CLIENT_KEYS for p in items)
    assert ok(profile(emu, team_id, two, one_token))["display_name"] == "User 2"

    # Someone outside the team sees nothing of it.
    outsider, outsider_token = person(emu, "Outsider")
    known_error(profiles(emu, outsider_token, team_id=team_id), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team_id, "user_id": outsider})
    known_error(profile(emu, team_id, "me", outsider_token), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team_id, "user_id": outsider})
    known_error(profile(emu, team_id, two, outsider_token), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team_id, "user_id": outsider})
    known_error(profile(emu, team_id, outsider, creator_token), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team_id, "user_id": outsider})
    known_error(call(emu, "GET", "/team-member-profiles", params={"team_id": team_id}), 400,
                "CANNOT_GET_OWN_USER_WITHOUT_USER")


def test_updates_and_fallback(emu):
    team_id, (creator, creator_token), (one, one_token), (two, _) = team_of_three(emu)
    ok(call(emu, "POST", f"/team-permissions/{team_id}/{one}/$read_members", access="server", json={}), 201)

    updated = ok(update(emu, team_id, "me", {"display_name": "Team Member Name Updated"}, one_token))
    assert updated == {"team_id": team_id, "user_id": one, "display_name": "Team Member Name Updated",
                       "profile_image_url": None}
    # The user's own name changes no longer show through the profile's name...
    ok(call(emu, "PATCH", f"/users/{one}", access="server", json={"display_name": "User name updated"}))
    assert ok(profile(emu, team_id, "me", one_token))["display_name"] == "Team Member Name Updated"
    # ...but do for members who never set one.
    text_error(update(emu, team_id, two, {"display_name": "User 2 Updated"}, one_token), 403,
               "Cannot update another user's profile")
    ok(call(emu, "PATCH", f"/users/{two}", access="server", json={"display_name": "User 2 Updated"}))
    assert ok(profile(emu, team_id, two, one_token))["display_name"] == "User 2 Updated"

    # Images: the user's image shows through until the profile has one; links and inline images are both fine.
    own_image = "https://img.example.com/u.png"
    ok(call(emu, "PATCH", f"/users/{one}", access="server", json={"profile_image_url": own_image}))
    assert ok(profile(emu, team_id, "me", one_token))["profile_image_url"] == "https://img.example.com/u.png"
    stored = ok(update(emu, team_id, "me", {"profile_image_url": PNG}, one_token))["profile_image_url"]
    assert_stored_image(emu, stored, PNG, "team-member-profile-images")
    link = "https://img.example.com/team-face.png"
    assert ok(update(emu, team_id, "me", {"profile_image_url": link}, one_token))["profile_image_url"] == link
    cleared = ok(update(emu, team_id, "me", {"profile_image_url": None}, one_token))
    assert cleared["profile_image_url"] == "https://img.example.com/u.png"
    assert cleared["display_name"] == "Team Member Name Updated"  # fields not sent are kept
    text_error(update(emu, team_id, "me", {"profile_image_url": "data:text/plain;base64,aGk="}, one_token), 400)

    lines = schema_error(update(emu, team_id, "me", {"display_name": None, "nickname": "x"}, one_token),
                         "PATCH", f"/api/v1/team-member-profiles/{team_id}/me")
    assert lines == ["body contains unknown properties: nickname", "body.display_name cannot be null"]
    known_error(update(emu, team_id, "me", {"display_name": "Outsider"}, person(emu, "Outsider")[1]), 404,
                "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id", "user_id"})


def test_server_access(emu):
    team_id, (creator, _), (one, one_token), (two, _) = team_of_three(emu)
    other_team = ok(call(emu, "POST", "/teams", access="server", json={"display_name": "Other"}), 201)["id"]
    ok(call(emu, "POST", f"/team-memberships/{other_team}/{one}", access="server", json={}), 201)

    items = ok(profiles(emu, team_id=team_id))["items"]
    assert [p["user_id"] for p in items] == [creator, one, two]
    for p in items:
        assert set(p) == CLIENT_KEYS | {"user"}
        assert set(p["user"]) == SERVER_USER_KEYS and p["user"]["id"] == p["user_id"]
    by_user = ok(profiles(emu, user_id=one))["items"]
    assert [(p["team_id"], p["user_id"]) for p in by_user] == [(team_id, one), (other_team, one)]
    assert [p["user_id"] for p in ok(profiles(emu, team_id=team_id, user_id=two))["items"]] == [two]

    # Server access edits anyone's profile, and answers with the server shape.
    body = ok(update(emu, team_id, two, {"display_name": "Second"}))
    assert body["display_name"] == "Second" and body["user"]["display_name"] == "User 2"
    assert ok(profile(emu, team_id, two))["display_name"] == "Second"
    assert ok(profile(emu, other_team, one))["display_name"] == "User 1"  # profiles are per team

    known_error(profiles(emu, team_id=MISSING_ID), 404, "TEAM_NOT_FOUND", {"team_id": MISSING_ID})
    known_error(profiles(emu, user_id=MISSING_ID), 404, "USER_NOT_FOUND")
    known_error(profile(emu, team_id, MISSING_ID), 404, "USER_NOT_FOUND")
    known_error(profile(emu, other_team, two), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": other_team, "user_id": two})
    known_error(update(emu, other_team, two, {"display_name": "x"}), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": other_team, "user_id": two})
    lines = schema_error(profile(emu, "not-a-team", "nobody"), "GET", "/api/v1/team-member-profiles/not-a-team/nobody")
    assert lines == ["params.team_id must be a valid UUID", "params.user_id must be a valid UUID"]
