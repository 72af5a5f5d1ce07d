"""Team invitations over HTTP: send (the email lands in the inbox), list, revoke, accept by code or by id."""
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from support import start_emulator
from wire import (ALLOW_ANON, ALLOW_RESTRICTED, UUID_RE, anon_sign_up, call, create_session, create_user, fresh_email,
                  known_error, ok, schema_error, sign_up, text_error)

CALLBACK = "http://localhost:3000/handler/team-invitation?from=test"
WEEK_MILLIS = 7 * 24 * 3600 * 1000


# ---- helpers ------------------------------------------------------------------------------------------------------

def person(emu, email=None, verified=True, **extra):
    """A user with a verified (or not) primary email and an access token: (user_id, token, email)."""
    email = email or fresh_email("inv")
    user = create_user(emu, primary_email=email, primary_email_verified=verified, primary_email_auth_enabled=True,
                       **extra)
    return user["id"], create_session(emu, user["id"])["access_token"], email


def new_team(emu, token, name="Rocket Club"):
    """A team created by the token's user, who becomes its admin (team_admin)."""
    return ok(call(emu, "POST", "/teams", token=token, json={"display_name": name, "creator_user_id": "me"}), 201)["id"]


def add_member(emu, team_id, user_id):
    ok(call(emu, "POST", f"/team-memberships/{team_id}/{user_id}", access="server", json={}), 201)


def set_permissions(emu, team_id, user_id, *permission_ids):
    """Replace the member's default `team_member` with exactly these permissions."""
    ok(call(emu, "DELETE", f"/team-permissions/{team_id}/{user_id}/team_member", access="server", json={}))
    for pid in permission_ids:
        ok(call(emu, "POST", f"/team-permissions/{team_id}/{user_id}/{pid}", access="server", json={}), 201)


def invite(emu, team_id, email, token=None, **kw):
    access = "client" if token else "server"
    return call(emu, "POST", "/team-invitations/send-code", access=access, token=token,
                json={"team_id": team_id, "email": email, "callback_url": CALLBACK}, **kw)


def wait_mail(emu, to):
    with emu.http() as h:
        r = h.get("/emulator/inbox/wait", params={"to": to, "subject": "join", "since": 0, "timeout": 10})
    assert r.status_code == 200, r.text
    return r.json()


def invitation_code(emu, to):
    return re.search(r"[?&]code=([0-9a-z]{45})", wait_mail(emu, to)["text"]).group(1)


def invited(emu, team_id, email, token=None):
    """Send an invitation; returns (invitation id, code read from the inbox)."""
    body = ok(invite(emu, team_id, email, token))
    return body["id"], invitation_code(emu, email)


def code_call(emu, action, code, token=None, **kw):
    path = "/team-invitations/accept" + ("" if action == "accept" else f"/{action}")
    return call(emu, "POST", path, token=token, json={"code": code}, **kw)


def team_ids_of(emu, token, **kw):
    return [t["id"] for t in ok(call(emu, "GET", "/teams?user_id=me", token=token, **kw))["items"]]


def list_for_team(emu, team_id, token=None):
    return call(emu, "GET", "/team-invitations", access="client" if token else "server", token=token,
                params={"team_id": team_id})


# ---- send and accept by code -----------------------------------------------------------------------------------

def test_send_then_accept_by_code(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token, "Rocket: Club")
    invitee_email = fresh_email("invitee")
    before = int(time.time() * 1000)
    r = invite(emu, team_id, invitee_email, owner_token)
    body = ok(r)
    assert set(body) == {"success", "id"} and body["success"] is True and UUID_RE.match(body["id"])

    message = wait_mail(emu, invitee_email)
    assert message["subject"] == "You have been invited to join Rocket: Club"
    code = message["code"]
    assert re.fullmatch(r"[0-9a-z]{45}", code)
    assert f"http://localhost:3000/handler/team-invitation?from=test&code={code}" in message["text"]

    listed = ok(list_for_team(emu, team_id, owner_token))
    assert listed["is_paginated"] is False
    [item] = listed["items"]
    assert set(item) == {"id", "team_id", "team_display_name", "expires_at_millis", "recipient_email"}
    assert item["id"] == body["id"] and item["team_id"] == team_id
    assert item["team_display_name"] == "Rocket: Club" and item["recipient_email"] == invitee_email
    assert before + WEEK_MILLIS <= item["expires_at_millis"] <= int(time.time() * 1000) + WEEK_MILLIS

    invitee, invitee_token, _ = person(emu, invitee_email, verified=False)
    assert ok(code_call(emu, "check-code", code.upper())) == {"is_code_valid": True}
    assert ok(code_call(emu, "details", code, invitee_token)) == {"team_id": team_id,
                                                                  "team_display_name": "Rocket: Club"}
    assert ok(code_call(emu, "accept", code, invitee_token)) == {}
    assert team_id in team_ids_of(emu, invitee_token)
    granted = ok(call(emu, "GET", "/team-permissions", token=invitee_token,
                      params={"team_id": team_id, "user_id": "me"}))["items"]
    assert [p["id"] for p in granted] == ["team_member"]

    known_error(code_call(emu, "accept", code, invitee_token), 409, "VERIFICATION_CODE_ALREADY_USED")
    known_error(code_call(emu, "check-code", code), 409, "VERIFICATION_CODE_ALREADY_USED")
    known_error(code_call(emu, "details", code, invitee_token), 409, "VERIFICATION_CODE_ALREADY_USED")
    assert ok(list_for_team(emu, team_id))["items"] == []


def test_server_sends_without_a_user_and_members_accepting_again_is_fine(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    invitee, invitee_token, email = person(emu)
    add_member(emu, team_id, invitee)
    _, code = invited(emu, team_id, email)
    assert ok(code_call(emu, "accept", code, invitee_token)) == {}
    assert team_ids_of(emu, invitee_token).count(team_id) == 1
    # The code is not tied to its address: whoever holds it may join.
    _, code = invited(emu, team_id, fresh_email("forwarded"))
    other, other_token, _ = person(emu)
    assert ok(code_call(emu, "accept", code, other_token)) == {}
    assert team_id in team_ids_of(emu, other_token)


def test_code_errors(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    _, token, _ = person(emu)
    unknown = "0" * 45
    for action in ("accept", "check-code", "details"):
        known_error(code_call(emu, action, unknown, token), 404, "VERIFICATION_CODE_NOT_FOUND")
        path = "/team-invitations/accept" + ("" if action == "accept" else f"/{action}")
        lines = schema_error(code_call(emu, action, "short", token), "POST", "/api/v1" + path)
        assert lines == ["body.code must be exactly 45 characters"]
    # A code of another flow is not an invitation.
    email = fresh_email("otp")
    ok(call(emu, "POST", "/auth/otp/send-sign-in-code", json={"email": email, "callback_url": CALLBACK}))
    with emu.http() as h:
        otp = h.get("/emulator/inbox/wait", params={"to": email, "since": 0, "timeout": 10}).json()["code"]
    known_error(code_call(emu, "check-code", otp), 404, "VERIFICATION_CODE_NOT_FOUND")
    # Accepting needs a signed-in user (checked after the code).
    _, code = invited(emu, team_id, fresh_email())
    known_error(code_call(emu, "accept", code), 401, "USER_AUTHENTICATION_REQUIRED")
    known_error(code_call(emu, "details", code), 401, "USER_AUTHENTICATION_REQUIRED")
    assert ok(code_call(emu, "check-code", code)) == {"is_code_valid": True}


def test_accept_of_a_deleted_team(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    _, code = invited(emu, team_id, fresh_email())
    ok(call(emu, "DELETE", f"/teams/{team_id}", access="server"))
    _, token, _ = person(emu)
    known_error(code_call(emu, "details", code, token), 404, "TEAM_NOT_FOUND", {"team_id": team_id})
    known_error(code_call(emu, "accept", code, token), 404, "TEAM_NOT_FOUND", {"team_id": team_id})


# ---- restricted users --------------------------------------------------------------------------------------------

def test_restricted_users_cannot_accept(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    invitation_id, code = invited(emu, team_id, fresh_email())

    anon_token = anon_sign_up(emu, headers=ALLOW_ANON)["access_token"]
    anonymous = {"restricted_reason": {"type": "anonymous"}}
    for action in ("accept", "details"):
        known_error(code_call(emu, action, code, anon_token, headers=ALLOW_ANON), 403,
                    "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED", anonymous)
    known_error(call(emu, "POST", f"/team-invitations/{invitation_id}/accept?user_id=me", token=anon_token,
                     headers=ALLOW_ANON), 403, "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED", anonymous)

    blocked, blocked_token, _ = person(emu)
    ok(call(emu, "PATCH", f"/users/{blocked}", access="server", json={"restricted_by_admin": True}))
    known_error(code_call(emu, "accept", code, blocked_token, headers=ALLOW_RESTRICTED), 403,
                "TEAM_INVITATION_RESTRICTED_USER_NOT_ALLOWED",
                {"restricted_reason": {"type": "restricted_by_administrator"}})
    # A refusal leaves the code usable once the user may join.
    ok(call(emu, "PATCH", f"/users/{blocked}", access="server", json={"restricted_by_admin": False}))
    assert ok(code_call(emu, "accept", code, blocked_token)) == {}
    assert team_id in team_ids_of(emu, blocked_token)


# ---- who may send, list and revoke -------------------------------------------------------------------------------

def test_send_rules(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    member, member_token, _ = person(emu)
    add_member(emu, team_id, member)
    outsider, outsider_token, _ = person(emu)
    email = fresh_email()

    ok(invite(emu, team_id, email, member_token))  # team_member contains $invite_members
    set_permissions(emu, team_id, member, "$read_members")
    known_error(invite(emu, team_id, email, member_token), 401, "TEAM_PERMISSION_REQUIRED",
                {"team_id": team_id, "user_id": member, "permission_id": "$invite_members"})
    known_error(invite(emu, team_id, email, outsider_token), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team_id, "user_id": outsider})
    known_error(call(emu, "POST", "/team-invitations/send-code",  # client access without a user
                     json={"team_id": team_id, "email": email, "callback_url": CALLBACK}),
                401, "USER_AUTHENTICATION_REQUIRED")
    known_error(call(emu, "POST", "/team-invitations/send-code", access="server",
                     json={"team_id": team_id, "email": email, "callback_url": "https://evil.example.com/cb"}),
                400, "REDIRECT_URL_NOT_WHITELISTED")
    missing = "5f0e7b8a-1111-4222-8333-944445555666"
    known_error(invite(emu, missing, email), 404, "TEAM_NOT_FOUND", {"team_id": missing})
    lines = schema_error(call(emu, "POST", "/team-invitations/send-code", access="server",
                              json={"team_id": "nope", "email": "not-an-email"}),
                         "POST", "/api/v1/team-invitations/send-code")
    assert lines == ["body.team_id must be a valid UUID", "body.email must be a valid email",
                     "body.callback_url must be defined"]


def test_list_by_team_rules(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    first_id, _ = invited(emu, team_id, "first@example.com")
    second_id, _ = invited(emu, team_id, "second@example.com", owner_token)
    member, member_token, _ = person(emu)
    add_member(emu, team_id, member)
    outsider, outsider_token, _ = person(emu)

    items = ok(list_for_team(emu, team_id, member_token))["items"]  # team_member: $read_members + $invite_members
    assert [i["id"] for i in items] == [first_id, second_id]
    assert ok(list_for_team(emu, team_id))["items"] == items

    set_permissions(emu, team_id, member, "$read_members")
    known_error(list_for_team(emu, team_id, member_token), 401, "TEAM_PERMISSION_REQUIRED",
                {"team_id": team_id, "user_id": member, "permission_id": "$invite_members"})
    ok(call(emu, "DELETE", f"/team-permissions/{team_id}/{member}/$read_members", access="server", json={}))
    ok(call(emu, "POST", f"/team-permissions/{team_id}/{member}/$invite_members", access="server", json={}), 201)
    known_error(list_for_team(emu, team_id, member_token), 401, "TEAM_PERMISSION_REQUIRED",
                {"team_id": team_id, "user_id": member, "permission_id": "$read_members"})
    known_error(list_for_team(emu, team_id, outsider_token), 404, "TEAM_MEMBERSHIP_NOT_FOUND",
                {"team_id": team_id, "user_id": outsider})
    known_error(call(emu, "GET", "/team-invitations", params={"team_id": team_id}), 400,
                "CANNOT_GET_OWN_USER_WITHOUT_USER")
    missing = "5f0e7b8a-1111-4222-8333-944445555666"
    known_error(list_for_team(emu, missing), 404, "TEAM_NOT_FOUND", {"team_id": missing})

    text_error(call(emu, "GET", "/team-invitations", access="server"), 400)
    text_error(call(emu, "GET", "/team-invitations", token=owner_token, params={"team_id": team_id, "user_id": "me"}),
               400)
    lines = schema_error(call(emu, "GET", "/team-invitations", access="server", params={"team_id": "x", "other": "1"}),
                         "GET", "/api/v1/team-invitations")
    assert lines == ["query contains unknown properties: other", "query.team_id must be a valid UUID"]


def test_list_by_user(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token, "Alpha")
    other_team = new_team(emu, owner_token, "Beta")
    gone_team = new_team(emu, owner_token, "Gone")
    user, token, email = person(emu)
    second = fresh_email("second")
    ok(call(emu, "POST", "/contact-channels", access="server",
            json={"user_id": user, "value": second, "type": "email", "used_for_auth": False, "is_verified": True}), 201)
    unverified = fresh_email("unverified")
    ok(call(emu, "POST", "/contact-channels", access="server",
            json={"user_id": user, "value": unverified, "type": "email", "used_for_auth": False}), 201)
    first_id, _ = invited(emu, team_id, email.upper())  # addresses match whatever their case
    second_id, _ = invited(emu, other_team, second)
    invited(emu, gone_team, email)
    invited(emu, team_id, unverified)
    invited(emu, team_id, fresh_email("someone-else"))
    ok(call(emu, "DELETE", f"/teams/{gone_team}", access="server"))

    listed = ok(call(emu, "GET", "/team-invitations?user_id=me", token=token))
    assert listed["is_paginated"] is False
    assert [(i["id"], i["team_display_name"], i["recipient_email"]) for i in listed["items"]] == [
        (first_id, "Alpha", email.upper()), (second_id, "Beta", second)]
    assert ok(call(emu, "GET", "/team-invitations", access="server", params={"user_id": user})) == listed
    known_error(call(emu, "GET", "/team-invitations", token=owner_token, params={"user_id": user}), 400,
                "CANNOT_GET_OWN_USER_WITHOUT_USER")
    known_error(call(emu, "GET", "/team-invitations?user_id=me"), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")
    nobody = "5f0e7b8a-1111-4222-8333-944445555666"
    assert ok(call(emu, "GET", "/team-invitations", access="server", params={"user_id": nobody}))["items"] == []


def test_revoke(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    other_team = new_team(emu, owner_token)
    invitation_id, code = invited(emu, team_id, fresh_email())
    member, member_token, _ = person(emu)
    add_member(emu, team_id, member)
    outsider, outsider_token, _ = person(emu)

    def revoke(token=None, team=team_id, invitation=invitation_id):
        return call(emu, "DELETE", f"/team-invitations/{invitation}", access="client" if token else "server",
                    token=token, params={"team_id": team} if team else None)

    known_error(revoke(member_token), 401, "TEAM_PERMISSION_REQUIRED",
                {"team_id": team_id, "user_id": member, "permission_id": "$remove_members"})
    known_error(revoke(outsider_token), 404, "TEAM_MEMBERSHIP_NOT_FOUND", {"team_id": team_id, "user_id": outsider})
    text_error(revoke(owner_token, team=None), 400)
    known_error(revoke(owner_token, team=other_team), 404, "VERIFICATION_CODE_NOT_FOUND")
    assert ok(revoke(owner_token)) == {"success": True}
    known_error(revoke(owner_token), 404, "VERIFICATION_CODE_NOT_FOUND")
    assert ok(list_for_team(emu, team_id))["items"] == []
    _, token, _ = person(emu)
    known_error(code_call(emu, "accept", code, token), 404, "VERIFICATION_CODE_NOT_FOUND")

    second_id, _ = invited(emu, team_id, fresh_email())
    assert ok(revoke(team=team_id, invitation=second_id)) == {"success": True}  # server access
    lines = schema_error(revoke(owner_token, invitation="not-a-uuid"), "DELETE", "/api/v1/team-invitations/not-a-uuid")
    assert lines == ["params.id must be a valid UUID"]


# ---- accept by id ------------------------------------------------------------------------------------------------

def test_accept_by_id(emu):
    owner, owner_token, _ = person(emu)
    team_id = new_team(emu, owner_token)
    user, token, email = person(emu, verified=False)
    invitation_id, _ = invited(emu, team_id, email)

    def accept(token=None, user_id="me", invitation=invitation_id):
        return call(emu, "POST", f"/team-invitations/{invitation}/accept", access="client" if token else "server",
                    token=token, params={"user_id": user_id})

    known_error(accept(token), 404, "VERIFICATION_CODE_NOT_FOUND")  # the address is not verified yet
    assert ok(call(emu, "GET", "/team-invitations?user_id=me", token=token))["items"] == []
    ok(call(emu, "PATCH", f"/users/{user}", access="server", json={"primary_email_verified": True}))
    known_error(accept(owner_token, user_id=user), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")
    known_error(accept(owner_token), 404, "VERIFICATION_CODE_NOT_FOUND")  # the owner's email is another one
    [item] = ok(call(emu, "GET", "/team-invitations?user_id=me", token=token))["items"]
    assert item["id"] == invitation_id
    assert ok(accept(token)) == {}
    assert team_id in team_ids_of(emu, token)
    assert ok(call(emu, "GET", "/team-invitations?user_id=me", token=token))["items"] == []
    known_error(accept(token), 404, "VERIFICATION_CODE_NOT_FOUND")

    # Server access accepts for any user whose verified email matches.
    other, other_token, other_email = person(emu)
    other_invitation, other_code = invited(emu, team_id, other_email)
    assert ok(accept(user_id=other, invitation=other_invitation)) == {}
    assert team_id in team_ids_of(emu, other_token)
    known_error(code_call(emu, "accept", other_code, other_token), 409, "VERIFICATION_CODE_ALREADY_USED")

    lines = schema_error(call(emu, "POST", f"/team-invitations/{invitation_id}/accept", access="server"),
                         "POST", f"/api/v1/team-invitations/{invitation_id}/accept")
    assert lines == ["query.user_id must be defined"]
    known_error(accept(invitation="5f0e7b8a-1111-4222-8333-944445555666", user_id=other), 404,
                "VERIFICATION_CODE_NOT_FOUND")


# ---- expiry ------------------------------------------------------------------------------------------------------

def test_expired_invitations():
    """Seven days are not waited for: the invitation's expiry is moved into the past in the data file."""
    data = Path(tempfile.mkdtemp(prefix="hexclave-inv-"))
    e = start_emulator("--data-dir", str(data), in_memory=False)
    try:
        owner, owner_token, _ = person(e)
        team_id = new_team(e, owner_token)
        user, token, email = person(e)
        invitation_id, code = invited(e, team_id, email)
        with sqlite3.connect(data / "emulator.sqlite3", timeout=10) as db:
            db.execute("UPDATE verification_codes SET expires_at_millis = ? WHERE id = ?",
                       (int(time.time() * 1000) - 1, invitation_id))
        known_error(code_call(e, "accept", code, token), 400, "VERIFICATION_CODE_EXPIRED")
        known_error(code_call(e, "check-code", code), 400, "VERIFICATION_CODE_EXPIRED")
        known_error(call(e, "POST", f"/team-invitations/{invitation_id}/accept?user_id=me", token=token), 404,
                    "VERIFICATION_CODE_NOT_FOUND")
        assert ok(list_for_team(e, team_id))["items"] == []
        assert ok(call(e, "GET", "/team-invitations?user_id=me", token=token))["items"] == []
    finally:
        e.stop()


def test_dashboard_teams_have_one_seat_per_member_on_the_free_plan(emu):
    """On the internal project every team starts on the dashboard's free plan (one `dashboard_admins` seat), and
    an invitation may only be accepted while a seat is left."""
    owner = sign_up(emu, project_id="internal")
    team_id, = team_ids_of(emu, owner["access_token"], project_id="internal")  # the personal team

    def server(method, path, **kw):
        return call(emu, method, path, access="server", project_id="internal", **kw)

    assert [p["id"] for p in ok(server("GET", f"/payments/products/team/{team_id}"))["items"]] == ["free"]
    seats = f"/payments/items/team/{team_id}/dashboard_admins"
    assert ok(server("GET", seats))["quantity"] == 1

    guest = fresh_email("seat")
    ok(server("POST", "/team-invitations/send-code", json={"team_id": team_id, "email": guest, "callback_url": CALLBACK}))
    code = invitation_code(emu, guest)
    token = sign_up(emu, guest, project_id="internal")["access_token"]
    known_error(code_call(emu, "accept", code, token, project_id="internal"), 400, "ITEM_QUANTITY_INSUFFICIENT_AMOUNT",
                {"item_id": "dashboard_admins", "customer_id": team_id, "quantity": -1})
    ok(server("POST", f"{seats}/update-quantity", params={"allow_negative": "false"}, json={"delta": 1}))
    ok(code_call(emu, "accept", code, token, project_id="internal"))  # the refused attempt left the code usable
    assert team_id in team_ids_of(emu, token, project_id="internal")
