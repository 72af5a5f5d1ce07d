"""Users over HTTP: /users/me for client and server, the client vs server field sets, client update restrictions,
the server list (pagination, filters, order), create (password, bcrypt import), read, update, delete, metadata and
primary-email uniqueness.

Reference: packages/stack-shared/src/interface/crud/users.ts + current-user.ts, apps/backend/src/app/api/latest/
users/crud.tsx, e2e users.test.ts and auth/anonymous/*.test.ts snapshots.
"""
from __future__ import annotations

import httpx
import time
import uuid

import bcrypt
import pytest

from support import start_emulator
from wire import (ALLOW_ANON, CLIENT_USER_KEYS, PASSWORD, SERVER_USER_KEYS, UUID_RE, anon_sign_up, assert_stored_image, call,
                  claims,
                  create_session, create_user, fresh_email, known_error, me, ok, refresh, schema_error, sign_in,
                  sign_up, text_error, unique, write_config)

GIF = "data:image/gif;base64,R0lGODlhAQABAAAAACH5BAEKAAEALAAAAAABAAEAAAICTAEAOw=="


@pytest.fixture(scope="module")
def nodelete():
    """An emulator whose project does not allow client user deletion."""
    e = start_emulator(config=write_config({"users": {"allowClientUserDeletion": False}}))
    yield e
    e.stop()


def users(emu, **params):
    return ok(call(emu, "GET", "/users", access="server", params=params))


def ids(listing):
    return [u["id"] for u in listing["items"]]


# ---- /users/me ----------------------------------------------------------------------------------------------------

def test_client_me_field_set_and_values(emu):
    t = sign_up(emu)
    before = int(time.time() * 1000)
    u = ok(me(emu, t["access_token"]))
    assert set(u) == CLIENT_USER_KEYS
    assert u["id"] == t["user_id"]
    assert UUID_RE.match(u["id"])
    assert u["primary_email"] == t["email"]
    assert u["primary_email_verified"] is False
    assert u["display_name"] is None
    assert u["client_metadata"] is None and u["client_read_only_metadata"] is None
    assert u["profile_image_url"] is None
    assert u["has_password"] is True and u["auth_with_email"] is True
    assert u["oauth_providers"] == []
    assert u["selected_team_id"] is None and u["selected_team"] is None
    assert u["requires_totp_mfa"] is False
    assert u["otp_auth_enabled"] is False and u["passkey_auth_enabled"] is False
    assert u["is_anonymous"] is False and u["is_restricted"] is False and u["restricted_reason"] is None
    assert u["restricted_by_admin"] is False and u["restricted_by_admin_reason"] is None
    assert isinstance(u["signed_up_at_millis"], int)
    assert before - 60_000 < u["signed_up_at_millis"] <= before + 60_000


def test_server_me_field_set_and_values(emu):
    t = sign_up(emu)
    u = ok(me(emu, t["access_token"], access="server"))
    assert set(u) == SERVER_USER_KEYS
    assert u["id"] == t["user_id"]
    assert u["primary_email_auth_enabled"] is True
    assert u["server_metadata"] is None
    assert u["restricted_by_admin_private_details"] is None
    assert u["country_code"] is None
    assert u["risk_scores"] == {"sign_up": {"bot": 0, "free_trial_abuse": 0}}
    assert isinstance(u["last_active_at_millis"], int)


@pytest.mark.parametrize("access", ["client", "server"])
def test_me_without_user(emu, access):
    known_error(me(emu, None, access=access), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


@pytest.mark.parametrize("access", ["client", "server"])
def test_me_update_without_user(emu, access):
    r = call(emu, "PATCH", "/users/me", access=access, json={"display_name": "x"})
    known_error(r, 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


def test_me_with_refresh_token_only_is_not_signed_in(emu):
    t = sign_up(emu)
    r = me(emu, None, headers={"x-stack-refresh-token": t["refresh_token"]})
    known_error(r, 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


def test_client_update_returns_client_shape(emu):
    t = sign_up(emu)
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"],
                   json={"display_name": "John Doe", "client_metadata": {"key": "value"}}))
    assert set(body) == CLIENT_USER_KEYS
    assert body["display_name"] == "John Doe"
    assert body["client_metadata"] == {"key": "value"}
    again = ok(me(emu, t["access_token"]))
    assert again["display_name"] == "John Doe" and again["client_metadata"] == {"key": "value"}


def test_client_update_empty_display_name_becomes_null(emu):
    t = sign_up(emu)
    ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"display_name": "Someone"}))
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"display_name": ""}))
    assert body["display_name"] is None


def test_client_update_null_clears_metadata(emu):
    t = sign_up(emu)
    ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"client_metadata": {"a": 1}}))
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"client_metadata": None}))
    assert body["client_metadata"] is None


def test_client_update_only_touches_given_fields(emu):
    t = sign_up(emu)
    ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"display_name": "Keep", "client_metadata": [1]}))
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"client_metadata": "text"}))
    assert body["display_name"] == "Keep" and body["client_metadata"] == "text"


@pytest.mark.parametrize("field,value", [("server_metadata", {"k": "v"}), ("client_read_only_metadata", {"k": "v"}),
                                         ("primary_email_auth_enabled", True), ("country_code", "US")])
def test_client_update_rejects_server_only_fields(emu, field, value):
    t = sign_up(emu)
    r = call(emu, "PATCH", "/users/me", token=t["access_token"], json={field: value})
    assert schema_error(r, "PATCH", "/api/v1/users/me") == [f"body contains unknown properties: {field}"]


def test_client_profile_image_must_be_a_data_url(emu):
    t = sign_up(emu)
    r = call(emu, "PATCH", "/users/me", token=t["access_token"],
             json={"profile_image_url": "http://localhost:8101/open-graph-image.png"})
    text_error(r, 400, "Invalid profile image URL")
    r = call(emu, "PATCH", "/users/me", token=t["access_token"],
             json={"profile_image_url": "data:image/not-valid;base64,test"})
    text_error(r, 400, "Invalid profile image URL")


def test_client_profile_image_data_url(emu):
    t = sign_up(emu)
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"profile_image_url": GIF}))
    assert_stored_image(emu, body["profile_image_url"], GIF, "user-profile-images")
    assert ok(me(emu, t["access_token"]))["profile_image_url"] == body["profile_image_url"]
    for broken in ("data:image/gif;base64,R0lGODlh", "data:image/png;base64,aGVsbG8=", "data:image/svg+xml;base64,PHN2Zy8+"):
        r = call(emu, "PATCH", "/users/me", access="server", token=t["access_token"], json={"profile_image_url": broken})
        assert r.status_code == 400, (broken, r.text)
    assert httpx.get(f"{emu.api}/emulator/storage/user-profile-images/nothing.gif").status_code == 404


def test_server_profile_image_http_url(emu):
    t = sign_up(emu)
    url = "https://example.com/avatar.png"
    body = ok(call(emu, "PATCH", "/users/me", access="server", token=t["access_token"],
                   json={"profile_image_url": url}))
    assert body["profile_image_url"] == url


def test_client_update_totp_secret(emu):
    t = sign_up(emu)
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"],
                   json={"totp_secret_base64": "ZXhhbXBsZSB2YWx1ZQ=="}))
    assert body["requires_totp_mfa"] is True
    body = ok(call(emu, "PATCH", "/users/me", token=t["access_token"], json={"totp_secret_base64": None}))
    assert body["requires_totp_mfa"] is False


def test_server_me_update_returns_server_shape(emu):
    t = sign_up(emu)
    body = ok(call(emu, "PATCH", "/users/me", access="server", token=t["access_token"],
                   json={"display_name": "Srv", "server_metadata": {"s": 1}, "client_read_only_metadata": "ro"}))
    assert set(body) == SERVER_USER_KEYS
    assert (body["display_name"], body["server_metadata"], body["client_read_only_metadata"]) == ("Srv", {"s": 1}, "ro")
    client_view = ok(me(emu, t["access_token"]))
    assert client_view["client_read_only_metadata"] == "ro"
    assert "server_metadata" not in client_view


def test_client_delete_me(emu):
    t = sign_up(emu)
    r = call(emu, "DELETE", "/users/me", token=t["access_token"])
    assert ok(r) == {"success": True}
    # the access token is stateless: it still parses, but there is no user behind it any more
    known_error(me(emu, t["access_token"]), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    known_error(call(emu, "GET", f"/users/{t['user_id']}", access="server"), 404, "USER_NOT_FOUND")


def test_client_delete_me_when_disabled(nodelete):
    u = create_user(nodelete, display_name="stays")
    tokens = create_session(nodelete, u["id"])
    r = call(nodelete, "DELETE", "/users/me", token=tokens["access_token"])
    text_error(r, 400, "Client user deletion is not enabled for this project")
    assert ok(me(nodelete, tokens["access_token"]))["id"] == u["id"]
    # server access may still delete
    assert ok(call(nodelete, "DELETE", "/users/me", access="server", token=tokens["access_token"])) == {"success": True}


def test_server_delete_me(emu):
    t = sign_up(emu)
    assert ok(call(emu, "DELETE", "/users/me", access="server", token=t["access_token"])) == {"success": True}
    known_error(call(emu, "GET", f"/users/{t['user_id']}", access="server"), 404, "USER_NOT_FOUND")


def test_me_shows_every_write_at_once(emu):
    """GET /users/me is served from a render kept until the next write: each kind of write shows on the next read."""
    t = sign_up(emu)
    token, uid = t["access_token"], t["user_id"]
    assert ok(me(emu, token))["display_name"] is None
    assert ok(me(emu, token))["display_name"] is None  # read twice: the second from the kept render
    ok(call(emu, "PATCH", "/users/me", token=token, json={"display_name": "Client Name"}))
    assert ok(me(emu, token))["display_name"] == "Client Name"
    ok(call(emu, "PATCH", f"/users/{uid}", access="server", json={"client_read_only_metadata": {"plan": "pro"}}))
    assert ok(me(emu, token))["client_read_only_metadata"] == {"plan": "pro"}
    assert ok(me(emu, token, access="server"))["client_read_only_metadata"] == {"plan": "pro"}
    team = ok(call(emu, "POST", "/teams", access="server", json={"display_name": "Before", "creator_user_id": uid}), 201)
    ok(call(emu, "PATCH", "/users/me", token=token, json={"selected_team_id": team["id"]}))
    assert ok(me(emu, token))["selected_team"]["display_name"] == "Before"
    ok(call(emu, "PATCH", f"/teams/{team['id']}", access="server", json={"display_name": "After"}))  # another table
    assert ok(me(emu, token))["selected_team"]["display_name"] == "After"
    ok(call(emu, "DELETE", f"/users/{uid}", access="server"))
    known_error(me(emu, token), 400, "CANNOT_GET_OWN_USER_WITHOUT_USER")


# ---- client cannot use /users ---------------------------------------------------------------------------------------

def test_client_cannot_create_or_list(emu):
    details = {"actual_access_type": "client", "allowed_access_types": ["server", "admin"]}
    known_error(call(emu, "POST", "/users", json={}), 401, "INSUFFICIENT_ACCESS_TYPE", details)
    t = sign_up(emu)
    known_error(call(emu, "GET", f"/users/{t['user_id']}", token=t["access_token"]), 401,
                "INSUFFICIENT_ACCESS_TYPE", details)


# ---- create -------------------------------------------------------------------------------------------------------

def test_create_empty_user(emu):
    r = call(emu, "POST", "/users", access="server", json={})
    u = ok(r, 201)
    assert set(u) == SERVER_USER_KEYS
    assert UUID_RE.match(u["id"])
    assert u["primary_email"] is None and u["primary_email_verified"] is False
    assert u["primary_email_auth_enabled"] is False
    assert u["has_password"] is False and u["auth_with_email"] is False and u["otp_auth_enabled"] is False
    assert u["display_name"] is None and u["server_metadata"] is None
    assert u["selected_team"] is None and u["selected_team_id"] is None
    assert u["is_anonymous"] is False and u["is_restricted"] is False and u["restricted_reason"] is None
    assert u["risk_scores"] == {"sign_up": {"bot": 0, "free_trial_abuse": 0}}
    assert u["oauth_providers"] == []


def test_create_with_password_then_sign_in(emu):
    email = fresh_email()
    u = create_user(emu, primary_email=email, primary_email_auth_enabled=True, password="created-password")
    assert u["has_password"] is True and u["auth_with_email"] is True
    assert u["primary_email"] == email and u["primary_email_auth_enabled"] is True
    assert u["primary_email_verified"] is False
    assert sign_in(emu, email, "created-password")["user_id"] == u["id"]
    known_error(call(emu, "POST", "/auth/password/sign-in", json={"email": email, "password": "wrong-password"}),
                400, "EMAIL_PASSWORD_MISMATCH")


def test_switching_primary_email_to_an_existing_channel_keeps_its_verification(emu):
    u = create_user(emu, primary_email=fresh_email(), primary_email_verified=False)
    verified, unverified = fresh_email(), fresh_email()
    for value, is_verified in ((verified, True), (unverified, False)):
        ok(call(emu, "POST", "/contact-channels", access="server", json={
            "user_id": u["id"], "type": "email", "value": value, "used_for_auth": False, "is_verified": is_verified}),
           201)
    switched = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"primary_email": verified}))
    assert switched["primary_email"] == verified and switched["primary_email_verified"] is True
    switched = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"primary_email": unverified}))
    assert switched["primary_email"] == unverified and switched["primary_email_verified"] is False
    # a new address starts unverified unless the request says otherwise
    switched = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"primary_email": fresh_email()}))
    assert switched["primary_email_verified"] is False
    switched = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server",
                       json={"primary_email": verified, "primary_email_verified": False}))
    assert switched["primary_email_verified"] is False


@pytest.mark.parametrize("variant", ["2a", "2b", "2y"])
def test_create_with_bcrypt_hash_then_sign_in(emu, variant):
    email = fresh_email()
    hashed = bcrypt.hashpw(b"imported-password", bcrypt.gensalt(rounds=4)).decode()
    hashed = f"${variant}${hashed[4:]}"
    u = create_user(emu, primary_email=email, primary_email_auth_enabled=True, password_hash=hashed)
    assert u["has_password"] is True
    assert sign_in(emu, email, "imported-password")["user_id"] == u["id"]
    known_error(call(emu, "POST", "/auth/password/sign-in", json={"email": email, "password": "imported-passwore"}),
                400, "EMAIL_PASSWORD_MISMATCH")


def test_create_with_reference_bcrypt_hash(emu):
    # The reference's own fixture: "hello-world" hashed with 13 rounds.
    email = fresh_email()
    create_user(emu, primary_email=email, primary_email_auth_enabled=True,
                password_hash="$2a$13$TVyY/gpw9Db/w1fBeJkCgeNg2Rae2JfNqrPnSAKtj.ufAO5cVF13.")
    sign_in(emu, email, "hello-world")


def test_server_set_passwords_skip_the_strength_rules(emu):
    """Only the user-facing password routes check length; the server API sets what it is given."""
    email = fresh_email()
    create_user(emu, primary_email=email, primary_email_auth_enabled=True, password="short")
    assert sign_in(emu, email, "short")["user_id"]


def test_create_with_password_and_hash(emu):
    r = call(emu, "POST", "/users", access="server", json={
        "primary_email": fresh_email(), "primary_email_auth_enabled": True, "password": "hello-world",
        "password_hash": "$2a$13$TVyY/gpw9Db/w1fBeJkCgeNg2Rae2JfNqrPnSAKtj.ufAO5cVF13."})
    text_error(r, 400, "Cannot set both password and password_hash at the same time.")


@pytest.mark.parametrize("password_hash", ["$2a$17$VIhIOofSMqGdGlL4wzE//e.77dAQGqNtF/1dT7bqCrVtQuInWy2qi",
                                           "not-a-hash", "$1$abc$def"])
def test_create_with_invalid_hash(emu, password_hash):
    r = call(emu, "POST", "/users", access="server", json={
        "primary_email": fresh_email(), "primary_email_auth_enabled": True, "password_hash": password_hash})
    text_error(r, 400, "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.")


def test_create_auth_enabled_without_email(emu):
    r = call(emu, "POST", "/users", access="server", json={"primary_email_auth_enabled": True})
    text_error(r, 400, "primary_email_auth_enabled cannot be true without primary_email")


def test_create_with_metadata(emu):
    u = create_user(emu, display_name="Meta", client_metadata={"c": [1, 2]}, client_read_only_metadata="ro",
                    server_metadata={"s": {"nested": True}})
    assert (u["client_metadata"], u["client_read_only_metadata"], u["server_metadata"]) == \
        ({"c": [1, 2]}, "ro", {"s": {"nested": True}})
    got = ok(call(emu, "GET", f"/users/{u['id']}", access="server"))
    assert (got["client_metadata"], got["client_read_only_metadata"], got["server_metadata"]) == \
        ({"c": [1, 2]}, "ro", {"s": {"nested": True}})


def test_create_normalises_email_and_country(emu):
    tag = uuid.uuid4().hex[:8]
    u = create_user(emu, primary_email=f"Mixed.Case-{tag}@Example.COM", country_code="de")
    assert u["primary_email"] == f"mixed.case-{tag}@example.com"
    assert u["country_code"] == "DE"


def test_create_anonymous_user(emu):
    u = create_user(emu, is_anonymous=True)
    assert u["is_anonymous"] is True and u["is_restricted"] is True
    assert u["restricted_reason"] == {"type": "anonymous"}
    assert u["primary_email"] is None


def test_create_restricted_by_admin(emu):
    u = create_user(emu, restricted_by_admin=True, restricted_by_admin_reason="spam",
                    restricted_by_admin_private_details="ticket 1")
    assert u["restricted_by_admin"] is True and u["is_restricted"] is True
    assert u["restricted_reason"] == {"type": "restricted_by_administrator"}
    assert u["restricted_by_admin_reason"] == "spam" and u["restricted_by_admin_private_details"] == "ticket 1"


def test_create_duplicate_auth_email(emu):
    email = fresh_email()
    create_user(emu, primary_email=email, primary_email_auth_enabled=True)
    r = call(emu, "POST", "/users", access="server", json={"primary_email": email, "primary_email_auth_enabled": True})
    known_error(r, 409, "USER_EMAIL_ALREADY_EXISTS", {"email": email, "would_work_if_email_was_verified": False})


def test_duplicate_email_allowed_without_auth(emu):
    email = fresh_email()
    a = create_user(emu, primary_email=email, primary_email_auth_enabled=True)
    b = create_user(emu, primary_email=email)
    assert b["primary_email"] == email and b["primary_email_auth_enabled"] is False and b["id"] != a["id"]


def test_auth_email_allowed_when_existing_email_is_not_for_auth(emu):
    email = fresh_email()
    create_user(emu, primary_email=email)
    u = create_user(emu, primary_email=email, primary_email_auth_enabled=True)
    assert u["primary_email_auth_enabled"] is True


def test_signed_up_email_is_taken_for_server_create(emu):
    t = sign_up(emu)
    r = call(emu, "POST", "/users", access="server",
             json={"primary_email": t["email"], "primary_email_auth_enabled": True})
    known_error(r, 409, "USER_EMAIL_ALREADY_EXISTS", {"email": t["email"], "would_work_if_email_was_verified": False})


# ---- read ---------------------------------------------------------------------------------------------------------

def test_read_user(emu):
    t = sign_up(emu)
    u = ok(call(emu, "GET", f"/users/{t['user_id']}", access="server"))
    assert set(u) == SERVER_USER_KEYS
    assert u["id"] == t["user_id"] and u["primary_email"] == t["email"]


def test_read_unknown_user(emu):
    known_error(call(emu, "GET", f"/users/{uuid.uuid4()}", access="server"), 404, "USER_NOT_FOUND")


def test_read_me_by_path_param(emu):
    t = sign_up(emu)
    u = ok(call(emu, "GET", "/users/me", access="server", token=t["access_token"]))
    assert u["id"] == t["user_id"]


def test_read_anonymous_user_by_id(emu):
    a = anon_sign_up(emu)
    u = ok(call(emu, "GET", f"/users/{a['user_id']}", access="server"))
    assert u["is_anonymous"] is True


# ---- update -------------------------------------------------------------------------------------------------------

def test_update_user(emu):
    u = create_user(emu, display_name="Before")
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server",
                   json={"display_name": "John Doe", "server_metadata": {"key": "value"}}))
    assert set(body) == SERVER_USER_KEYS
    assert body["display_name"] == "John Doe" and body["server_metadata"] == {"key": "value"}
    got = ok(call(emu, "GET", f"/users/{u['id']}", access="server"))
    assert got["display_name"] == "John Doe" and got["server_metadata"] == {"key": "value"}


def test_update_all_metadata_fields(emu):
    u = create_user(emu)
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={
        "client_metadata": {"key": "client value"}, "client_read_only_metadata": {"key": "client read only value"},
        "server_metadata": {"key": "server value"}}))
    assert body["client_metadata"] == {"key": "client value"}
    assert body["client_read_only_metadata"] == {"key": "client read only value"}
    assert body["server_metadata"] == {"key": "server value"}
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"server_metadata": None}))
    assert body["server_metadata"] is None and body["client_metadata"] == {"key": "client value"}


def test_update_unknown_user(emu):
    r = call(emu, "PATCH", f"/users/{uuid.uuid4()}", access="server", json={"display_name": "x"})
    known_error(r, 404, "USER_NOT_FOUND")


def test_update_restriction(emu):
    u = create_user(emu)
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server",
                   json={"restricted_by_admin": True, "restricted_by_admin_reason": "abuse"}))
    assert body["is_restricted"] is True and body["restricted_reason"] == {"type": "restricted_by_administrator"}
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server",
                   json={"restricted_by_admin": False}))
    assert body["is_restricted"] is False and body["restricted_reason"] is None
    assert body["restricted_by_admin_reason"] is None  # cleared when unrestricting


def test_update_restriction_reason_requires_restriction(emu):
    """The platform's schema test: reason and private details only with restricted_by_admin: true in the body."""
    u = create_user(emu)
    r = call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"restricted_by_admin_reason": "why"})
    assert schema_error(r, "PATCH", f"/api/v1/users/{u['id']}") == [
        "restricted_by_admin_reason must be null when restricted_by_admin is not true"]
    r = call(emu, "PATCH", f"/users/{u['id']}", access="server",
             json={"restricted_by_admin": False, "restricted_by_admin_private_details": "note"})
    assert schema_error(r, "PATCH", f"/api/v1/users/{u['id']}") == [
        "restricted_by_admin_private_details must be null when restricted_by_admin is not true"]
    r = call(emu, "POST", "/users", access="server", json={"restricted_by_admin_reason": "why"})
    assert schema_error(r, "POST", "/api/v1/users") == [
        "restricted_by_admin_reason must be null when restricted_by_admin is not true"]


def test_make_anonymous_user_regular(emu):
    a = anon_sign_up(emu)
    body = ok(call(emu, "PATCH", "/users/me", access="server", token=a["access_token"], headers=ALLOW_ANON,
                   json={"is_anonymous": False}))
    assert body["is_anonymous"] is False and body["is_restricted"] is False and body["restricted_reason"] is None


def test_update_password_signs_out_and_allows_sign_in(emu):
    t = sign_up(emu)
    body = ok(call(emu, "PATCH", f"/users/{t['user_id']}", access="server", json={"password": "brand-new-password"}))
    assert body["has_password"] is True
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    known_error(call(emu, "POST", "/auth/password/sign-in", json={"email": t["email"], "password": PASSWORD}),
                400, "EMAIL_PASSWORD_MISMATCH")
    assert sign_in(emu, t["email"], "brand-new-password")["user_id"] == t["user_id"]


def test_update_password_hash(emu):
    t = sign_up(emu)
    hashed = bcrypt.hashpw(b"hash-set-password", bcrypt.gensalt(rounds=4)).decode()
    ok(call(emu, "PATCH", f"/users/{t['user_id']}", access="server", json={"password_hash": hashed}))
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    assert sign_in(emu, t["email"], "hash-set-password")["user_id"] == t["user_id"]


def test_remove_password(emu):
    t = sign_up(emu)
    body = ok(call(emu, "PATCH", f"/users/{t['user_id']}", access="server", json={"password": None}))
    assert body["has_password"] is False
    known_error(call(emu, "POST", "/auth/password/sign-in", json={"email": t["email"], "password": PASSWORD}),
                400, "EMAIL_PASSWORD_MISMATCH")


def test_update_primary_email_then_sign_in_with_it(emu):
    t = sign_up(emu)
    new_email = fresh_email("moved")
    body = ok(call(emu, "PATCH", f"/users/{t['user_id']}", access="server", json={"primary_email": new_email}))
    assert body["primary_email"] == new_email
    assert sign_in(emu, new_email)["user_id"] == t["user_id"]


def test_update_primary_email_to_someone_elses_auth_email(emu):
    first = sign_up(emu)
    second = sign_up(emu)
    r = call(emu, "PATCH", "/users/me", access="server", token=second["access_token"],
             json={"primary_email": first["email"]})
    known_error(r, 409, "USER_EMAIL_ALREADY_EXISTS", {"email": first["email"], "would_work_if_email_was_verified": False})
    assert ok(me(emu, second["access_token"]))["primary_email"] == second["email"]


def test_remove_primary_email(emu):
    u = create_user(emu, primary_email=fresh_email())
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"primary_email": None}))
    assert body["primary_email"] is None


def test_update_country_code(emu):
    u = create_user(emu)
    assert ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"country_code": "fr"}))["country_code"] == "FR"
    r = call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"country_code": "XX-1"})
    schema_error(r, "PATCH", f"/api/v1/users/{u['id']}")


def test_access_token_claims_follow_updates(emu):
    t = sign_up(emu)
    ok(call(emu, "PATCH", f"/users/{t['user_id']}", access="server", json={"display_name": "Claimed"}))
    fresh = ok(refresh(emu, t["refresh_token"]))["access_token"]
    assert claims(fresh)["name"] == "Claimed"


# ---- delete -------------------------------------------------------------------------------------------------------

def test_delete_user(emu):
    u = create_user(emu)
    r = call(emu, "DELETE", f"/users/{u['id']}", access="server")
    assert r.status_code == 200 and r.json() == {"success": True}
    known_error(call(emu, "GET", f"/users/{u['id']}", access="server"), 404, "USER_NOT_FOUND")
    known_error(call(emu, "DELETE", f"/users/{u['id']}", access="server"), 404, "USER_NOT_FOUND")


def test_delete_user_with_json_body(emu):
    # The SDK sends `{}` as the body of DELETE /users/{id}.
    u = create_user(emu)
    assert ok(call(emu, "DELETE", f"/users/{u['id']}", access="server", json={})) == {"success": True}


def test_deleted_user_frees_the_email(emu):
    t = sign_up(emu)
    ok(call(emu, "DELETE", f"/users/{t['user_id']}", access="server"))
    again = sign_up(emu, email=t["email"])
    assert again["user_id"] != t["user_id"]


# ---- list ---------------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tagged(emu):
    """Five users whose display names share a tag, created in order a little apart."""
    tag = unique("Tag")
    made = []
    for i in range(5):
        made.append(create_user(emu, display_name=f"{tag} member {i}", primary_email=fresh_email(tag.lower())))
        time.sleep(0.012)
    return tag, made


def test_list_shape(emu, tagged):
    tag, made = tagged
    listing = users(emu, query=tag)
    assert set(listing) == {"items", "is_paginated", "pagination"}
    assert listing["is_paginated"] is True
    assert listing["pagination"] == {"next_cursor": None}
    assert all(set(u) == SERVER_USER_KEYS for u in listing["items"])
    assert ids(listing) == [u["id"] for u in made]


def test_list_default_order_is_signed_up_at_then_id(emu, tagged):
    tag, made = tagged
    items = users(emu, query=tag)["items"]
    assert items == sorted(items, key=lambda u: (u["signed_up_at_millis"], u["id"]))
    assert ids(users(emu, query=tag, order_by="signed_up_at")) == [u["id"] for u in made]
    assert ids(users(emu, query=tag, desc="false")) == [u["id"] for u in made]


def test_list_desc(emu, tagged):
    tag, made = tagged
    assert ids(users(emu, query=tag, desc="true")) == [u["id"] for u in reversed(made)]


def test_list_bad_order_by(emu):
    r = call(emu, "GET", "/users", access="server", params={"order_by": "display_name"})
    [line] = schema_error(r, "GET", "/api/v1/users")
    assert line.startswith("query.order_by must be one of the following values: signed_up_at"), line


def test_list_bad_desc(emu):
    r = call(emu, "GET", "/users", access="server", params={"desc": "yes"})
    assert schema_error(r, "GET", "/api/v1/users") == ["query.desc must be one of the following values: true, false"]


def test_list_pagination(emu, tagged):
    tag, made = tagged
    page1 = users(emu, query=tag, limit=2)
    assert len(page1["items"]) == 2
    cursor = page1["pagination"]["next_cursor"]
    assert isinstance(cursor, str) and UUID_RE.match(cursor)
    page2 = users(emu, query=tag, limit=2, cursor=cursor)
    assert len(page2["items"]) == 2
    page3 = users(emu, query=tag, limit=2, cursor=page2["pagination"]["next_cursor"])
    assert len(page3["items"]) == 1
    assert page3["pagination"]["next_cursor"] is None
    assert ids(page1) + ids(page2) + ids(page3) == [u["id"] for u in made]


def test_list_pagination_uneven(emu, tagged):
    tag, made = tagged
    page1 = users(emu, query=tag, limit=2)
    page2 = users(emu, query=tag, limit=3, cursor=page1["pagination"]["next_cursor"])
    assert ids(page1) + ids(page2) == [u["id"] for u in made]
    assert page2["pagination"]["next_cursor"] is None


def test_list_pagination_desc(emu, tagged):
    tag, made = tagged
    page1 = users(emu, query=tag, limit=3, desc="true")
    page2 = users(emu, query=tag, limit=3, desc="true", cursor=page1["pagination"]["next_cursor"])
    assert ids(page1) + ids(page2) == [u["id"] for u in reversed(made)]


def test_list_limit_larger_than_result(emu, tagged):
    tag, made = tagged
    listing = users(emu, query=tag, limit=5)
    assert len(listing["items"]) == 5 and listing["pagination"]["next_cursor"] is None
    listing = users(emu, query=tag, limit=50)
    assert len(listing["items"]) == 5 and listing["pagination"]["next_cursor"] is None


def test_list_query_matches_display_name_case_insensitively(emu, tagged):
    tag, made = tagged
    assert ids(users(emu, query=tag.upper())) == [u["id"] for u in made]
    assert ids(users(emu, query=f"{tag} member 3")) == [made[3]["id"]]


def test_list_query_matches_email_substring_and_exact_id(emu, tagged):
    tag, made = tagged
    email = made[2]["primary_email"]
    assert ids(users(emu, query=email.split("@")[0])) == [made[2]["id"]]
    assert ids(users(emu, query=made[4]["id"])) == [made[4]["id"]]


def test_list_query_without_match(emu):
    assert users(emu, query=unique("nomatch"))["items"] == []


def test_list_excludes_anonymous_and_restricted_by_default(emu):
    tag = unique("Vis")
    normal = create_user(emu, display_name=f"{tag} normal")
    anon = create_user(emu, display_name=f"{tag} anon", is_anonymous=True)
    restricted = create_user(emu, display_name=f"{tag} restricted", restricted_by_admin=True)
    assert set(ids(users(emu, query=tag))) == {normal["id"]}
    assert set(ids(users(emu, query=tag, include_restricted="true"))) == {normal["id"], restricted["id"]}
    assert set(ids(users(emu, query=tag, include_anonymous="true"))) == {normal["id"], restricted["id"], anon["id"]}
    assert set(ids(users(emu, query=tag, include_anonymous="true", only_anonymous="true"))) == {anon["id"]}
    assert set(ids(users(emu, query=tag, include_anonymous="false", include_restricted="false"))) == {normal["id"]}


def test_single_user_routes_accept_the_list_filters(emu):
    anon = create_user(emu, is_anonymous=True)
    got = ok(call(emu, "GET", f"/users/{anon['id']}", access="server", params={"include_anonymous": "true"}))
    assert got["id"] == anon["id"] and got["is_anonymous"] is True
    assert call(emu, "GET", f"/users/{anon['id']}", access="server", params={"colour": "red"}).status_code == 400


def test_list_only_anonymous_requires_include_anonymous(emu):
    r = call(emu, "GET", "/users", access="server", params={"only_anonymous": "true"})
    text_error(r, 400, "only_anonymous=true requires include_anonymous=true")


def test_list_by_team(emu):
    tag = unique("Team")
    member = create_user(emu, display_name=f"{tag} member")
    create_user(emu, display_name=f"{tag} outsider")
    team = ok(call(emu, "POST", "/teams", access="server",
                   json={"display_name": f"{tag} team", "creator_user_id": member["id"]}), 201)
    assert ids(users(emu, team_id=team["id"])) == [member["id"]]
    assert ids(users(emu, team_id=str(uuid.uuid4()))) == []
