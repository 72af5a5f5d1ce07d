"""Tokens and sessions over HTTP: the access-token claims and header, verification against the JWKS endpoint,
anonymous/restricted issuers and audiences, JWKS key counts, refresh through the OAuth token endpoint and through
/auth/sessions/current/refresh, session list/create/delete and sign-out.

Reference: apps/backend/src/lib/tokens.tsx, app/api/latest/auth/oauth/token/route.tsx + src/oauth/model.tsx,
app/api/latest/auth/sessions/**, app/api/latest/projects/[project_id]/.well-known/jwks.json/route.ts; e2e
backend-helpers.ts (ensureParsableAccessToken), auth/sessions/**/*.test.ts, anonymous-comprehensive.test.ts.
"""
from __future__ import annotations

import math
import re
import time
import uuid

import jwt
import pytest

from wire import (ACCESS_TOKEN_CLAIMS, ALLOW_ANON, REFRESH_TOKEN_RE, UUID_RE, anon_sign_up, call,
                  claims, create_session, create_user, internal, jwt_header, known_error, me, ok, raw, refresh,
                  schema_error, sign_in, sign_up, text_error)

SESSION_KEYS = {"id", "user_id", "created_at", "last_used_at", "is_impersonation", "is_current_session"}
OPTIONAL_SESSION_KEYS = {"last_used_at_end_user_ip_info", "agent_name"}


def jwks(emu, project_id=None, **params):
    r = raw(emu, "GET", f"/api/v1/projects/{project_id or emu.project_id}/.well-known/jwks.json", params=params)
    return r


def key_for(emu, token, **params):
    keys = ok(jwks(emu, **params))["keys"]
    kid = jwt_header(token)["kid"]
    match = [k for k in keys if k["kid"] == kid]
    return jwt.PyJWK(match[0]).key if match else None


def token_endpoint(emu, data=None, json=None):
    """The OAuth token endpoint, called like the SDK's oauth4webapi does: no x-stack headers at all."""
    return raw(emu, "POST", "/api/v1/auth/oauth/token", data=data, json=json)


def refresh_form(emu, refresh_token, client_secret=None, client_id=None):
    return {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": client_id or emu.project_id, "client_secret": client_secret or emu.pck}


def sessions(emu, token=None, access="client", user_id="me", **kw):
    return call(emu, "GET", "/auth/sessions", access=access, token=token, params={"user_id": user_id}, **kw)


# ---- access token -------------------------------------------------------------------------------------------------

def test_sign_up_tokens(emu):
    t = sign_up(emu)
    assert set(t) == {"access_token", "refresh_token", "user_id", "email", "password"}
    assert REFRESH_TOKEN_RE.match(t["refresh_token"]), t["refresh_token"]
    assert UUID_RE.match(t["user_id"])


def test_access_token_header(emu):
    header = jwt_header(sign_up(emu)["access_token"])
    assert header.keys() == {"alg", "kid"}
    assert header["alg"] == "ES256"
    assert isinstance(header["kid"], str) and len(header["kid"]) == 12


def test_access_token_claims(emu):
    t = sign_up(emu)
    c = claims(t["access_token"])
    assert set(c) == ACCESS_TOKEN_CLAIMS
    user = ok(me(emu, t["access_token"], access="server"))
    assert c["sub"] == t["user_id"]
    assert c["aud"] == emu.project_id and c["project_id"] == emu.project_id
    assert re.fullmatch(r"https?://[^/]+/api/v1/projects/" + re.escape(emu.project_id), c["iss"]), c["iss"]
    assert c["branch_id"] == "main"
    assert c["role"] == "authenticated"
    assert c["name"] is None
    assert c["email"] == t["email"]
    assert c["email_verified"] is False
    assert c["selected_team_id"] is None
    assert c["signed_up_at"] == math.floor(user["signed_up_at_millis"] / 1000)
    assert c["is_anonymous"] is False and c["is_restricted"] is False and c["restricted_reason"] is None
    assert c["requires_totp_mfa"] is False
    assert isinstance(c["iat"], int) and isinstance(c["exp"], int)
    assert abs(c["iat"] - time.time()) < 60
    assert c["exp"] - c["iat"] == 600  # default lifetime: 10 minutes
    assert UUID_RE.match(c["refresh_token_id"])


def test_access_token_claims_carry_user_data(emu):
    t = sign_up(emu)
    ok(call(emu, "PATCH", f"/users/{t['user_id']}", access="server",
            json={"display_name": "Claire", "primary_email_verified": True}))
    c = claims(ok(refresh(emu, t["refresh_token"]))["access_token"])
    assert c["name"] == "Claire" and c["email_verified"] is True


def test_access_token_verifies_against_jwks(emu):
    t = sign_up(emu)
    r = jwks(emu)
    assert r.headers.get("cache-control") == "public, max-age=3600"
    key = key_for(emu, t["access_token"])
    assert key is not None, "the signing kid is not in the JWKS"
    c = claims(t["access_token"])
    verified = jwt.decode(t["access_token"], key, algorithms=["ES256"], audience=emu.project_id, issuer=c["iss"])
    assert verified["sub"] == t["user_id"]


def test_jwks_key_shape_and_counts(emu):
    for params, count in [({}, 2), ({"include_restricted": "false"}, 2), ({"include_restricted": "true"}, 4),
                          ({"include_anonymous": "true"}, 6),
                          ({"include_anonymous": "true", "include_restricted": "false"}, 6)]:
        r = jwks(emu, **params)
        body = ok(r)
        assert set(body) == {"keys"}
        keys = body["keys"]
        assert len(keys) == count, (params, keys)
        assert len({k["kid"] for k in keys}) == count
        for k in keys:
            assert set(k) == {"kty", "alg", "crv", "kid", "x", "y"}
            assert (k["kty"], k["alg"], k["crv"]) == ("EC", "ES256", "P-256")
            assert len(k["kid"]) == 12
            jwt.PyJWK(k)  # a usable EC public key


def test_jwks_sets_are_nested(emu):
    normal = {k["kid"] for k in ok(jwks(emu))["keys"]}
    restricted = {k["kid"] for k in ok(jwks(emu, include_restricted="true"))["keys"]}
    everything = {k["kid"] for k in ok(jwks(emu, include_anonymous="true"))["keys"]}
    assert normal < restricted < everything


def test_jwks_is_per_project(emu):
    mine = {k["kid"] for k in ok(jwks(emu))["keys"]}
    theirs = {k["kid"] for k in ok(jwks(emu, project_id="internal"))["keys"]}
    assert not mine & theirs


def test_jwks_unknown_project(emu):
    text_error(jwks(emu, project_id=str(uuid.uuid4())), 404, "Project not found")


def test_jwks_bad_query(emu):
    r = jwks(emu, include_anonymous="maybe")
    known_error(r, 400, "SCHEMA_ERROR", {"message"})


def test_jwks_needs_no_auth_but_accepts_it(emu):
    r = call(emu, "GET", f"/projects/{emu.project_id}/.well-known/jwks.json", access="server")
    assert len(ok(r)["keys"]) == 2


def test_anonymous_token(emu):
    a = anon_sign_up(emu)
    assert set(a) == {"access_token", "refresh_token", "user_id"}
    c = claims(a["access_token"])
    assert set(c) == ACCESS_TOKEN_CLAIMS
    assert c["aud"] == f"{emu.project_id}:anon"
    assert c["project_id"] == emu.project_id
    assert re.fullmatch(r"https?://[^/]+/api/v1/projects-anonymous-users/" + re.escape(emu.project_id), c["iss"])
    assert c["is_anonymous"] is True and c["is_restricted"] is True
    assert c["restricted_reason"] == {"type": "anonymous"}
    assert c["email"] is None and c["name"] is None and c["role"] == "authenticated"
    normal_kid = jwt_header(sign_up(emu)["access_token"])["kid"]
    assert jwt_header(a["access_token"])["kid"] != normal_kid
    assert key_for(emu, a["access_token"]) is None
    assert key_for(emu, a["access_token"], include_restricted="true") is None
    key = key_for(emu, a["access_token"], include_anonymous="true")
    assert key is not None
    jwt.decode(a["access_token"], key, algorithms=["ES256"], audience=c["aud"], issuer=c["iss"])


def test_restricted_token(emu):
    u = create_user(emu, restricted_by_admin=True)
    t = create_session(emu, u["id"])
    c = claims(t["access_token"])
    assert c["aud"] == f"{emu.project_id}:restricted"
    assert re.fullmatch(r"https?://[^/]+/api/v1/projects-restricted-users/" + re.escape(emu.project_id), c["iss"])
    assert c["is_anonymous"] is False and c["is_restricted"] is True
    assert c["restricted_reason"] == {"type": "restricted_by_administrator"}
    assert key_for(emu, t["access_token"]) is None
    key = key_for(emu, t["access_token"], include_restricted="true")
    assert key is not None
    jwt.decode(t["access_token"], key, algorithms=["ES256"], audience=c["aud"], issuer=c["iss"])


def test_anonymous_issuer_jwks_redirect(emu):
    r = raw(emu, "GET", f"/api/v1/projects-anonymous-users/{emu.project_id}/.well-known/jwks.json")
    assert r.status_code in (303, 307, 308), r.status_code
    location = r.headers["location"]
    assert f"/api/v1/projects/{emu.project_id}/.well-known/jwks.json" in location
    assert "include_anonymous=true" in location
    followed = raw(emu, "GET", f"/api/v1/projects-anonymous-users/{emu.project_id}/.well-known/jwks.json",
                   follow_redirects=True)
    assert len(ok(followed)["keys"]) == 6


# ---- refresh: OAuth token endpoint --------------------------------------------------------------------------------

def test_refresh_through_token_endpoint(emu):
    t = sign_up(emu)
    old = claims(t["access_token"])
    time.sleep(1.05)  # a later iat
    r = token_endpoint(emu, data=refresh_form(emu, t["refresh_token"]))
    body = ok(r)
    assert r.headers["content-type"].startswith("application/json")
    assert "no-store" in r.headers.get("cache-control", "")
    assert r.headers.get("pragma") == "no-cache"
    assert {"access_token", "token_type", "expires_in", "scope"} <= set(body)
    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    assert body["scope"] == "legacy"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert body.get("after_callback_redirect_url") is None and body.get("afterCallbackRedirectUrl") is None
    new = claims(body["access_token"])
    assert set(new) == ACCESS_TOKEN_CLAIMS
    assert new["sub"] == t["user_id"] and new["refresh_token_id"] == old["refresh_token_id"]
    assert new["iat"] > old["iat"]
    assert ok(me(emu, body["access_token"]))["id"] == t["user_id"]


def test_refresh_does_not_rotate_the_refresh_token(emu):
    t = sign_up(emu)
    ok(token_endpoint(emu, data=refresh_form(emu, t["refresh_token"])))
    ok(token_endpoint(emu, data=refresh_form(emu, t["refresh_token"])))
    ok(refresh(emu, t["refresh_token"]))


def test_refresh_with_public_client_sentinel(emu):
    t = sign_up(emu)
    ok(token_endpoint(emu, data=refresh_form(emu, t["refresh_token"], client_secret="__stack_public_client__")))


def test_refresh_with_json_body(emu):
    t = sign_up(emu)
    assert "access_token" in ok(token_endpoint(emu, json=refresh_form(emu, t["refresh_token"])))


def test_refresh_with_branch_in_client_id(emu):
    t = sign_up(emu)
    ok(token_endpoint(emu, data=refresh_form(emu, t["refresh_token"], client_id=f"{emu.project_id}#main")))


def test_refresh_with_unknown_refresh_token(emu):
    r = token_endpoint(emu, data=refresh_form(emu, "x" * 45))
    known_error(r, 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_refresh_with_refresh_token_of_another_project(emu):
    u = create_user(emu, project_id="internal")
    other = create_session(emu, u["id"], project_id="internal")
    r = token_endpoint(emu, data=refresh_form(emu, other["refresh_token"]))
    known_error(r, 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_refresh_with_wrong_client_secret(emu):
    t = sign_up(emu)
    r = token_endpoint(emu, data=refresh_form(emu, t["refresh_token"], client_secret="pck_wrong"))
    known_error(r, 400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET", {"client_id"})


def test_refresh_with_unknown_client_id(emu):
    t = sign_up(emu)
    r = token_endpoint(emu, data=refresh_form(emu, t["refresh_token"], client_id=str(uuid.uuid4())))
    known_error(r, 400, "INVALID_OAUTH_CLIENT_ID_OR_SECRET", {"client_id"})


@pytest.mark.parametrize("grant_type", ["password", "client_credentials", ""])
def test_refresh_with_bad_grant_type(emu, grant_type):
    t = sign_up(emu)
    r = token_endpoint(emu, data={**refresh_form(emu, t["refresh_token"]), "grant_type": grant_type})
    known_error(r, 400, "SCHEMA_ERROR", {"message"})


def test_refresh_after_sign_out(emu):
    t = sign_up(emu)
    ok(call(emu, "DELETE", "/auth/sessions/current", token=t["access_token"], json={}))
    r = token_endpoint(emu, data=refresh_form(emu, t["refresh_token"]))
    known_error(r, 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


# ---- refresh: /auth/sessions/current/refresh ----------------------------------------------------------------------

@pytest.mark.parametrize("prefix", ["x-stack", "x-hexclave"])
def test_sessions_current_refresh(emu, prefix):
    t = sign_up(emu)
    r = call(emu, "POST", "/auth/sessions/current/refresh", prefix=prefix,
             headers={f"{prefix}-refresh-token": t["refresh_token"]})
    body = ok(r)
    assert set(body) == {"access_token"}
    c = claims(body["access_token"])
    assert c["sub"] == t["user_id"]
    assert c["refresh_token_id"] == claims(t["access_token"])["refresh_token_id"]


def test_sessions_current_refresh_on_server_access(emu):
    t = sign_up(emu)
    assert set(ok(refresh(emu, t["refresh_token"], access="server"))) == {"access_token"}


def test_sessions_current_refresh_invalid(emu):
    known_error(refresh(emu, "something-invalid"), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_sessions_current_refresh_without_header(emu):
    r = call(emu, "POST", "/auth/sessions/current/refresh")
    known_error(r, 400, "SCHEMA_ERROR", {"message"})


def test_sessions_current_refresh_needs_auth(emu):
    t = sign_up(emu)
    known_error(refresh(emu, t["refresh_token"], access=None), 400, "ACCESS_TYPE_REQUIRED")


def test_sessions_current_refresh_is_per_project(emu):
    t = sign_up(emu)
    known_error(refresh(emu, t["refresh_token"], project_id="internal"), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_sessions_current_refresh_of_deleted_user(emu):
    t = sign_up(emu)
    ok(call(emu, "DELETE", f"/users/{t['user_id']}", access="server"))
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    known_error(token_endpoint(emu, data=refresh_form(emu, t["refresh_token"])), 401,
                "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


# ---- sessions -----------------------------------------------------------------------------------------------------

def test_list_sessions(emu):
    t = sign_up(emu)
    body = ok(sessions(emu, t["access_token"]))
    assert set(body) == {"items", "is_paginated"}
    assert body["is_paginated"] is False
    [s] = body["items"]
    assert SESSION_KEYS <= set(s) <= SESSION_KEYS | OPTIONAL_SESSION_KEYS
    assert s["id"] == claims(t["access_token"])["refresh_token_id"]
    assert s["user_id"] == t["user_id"]
    assert s["is_current_session"] is True and s["is_impersonation"] is False
    now = time.time() * 1000
    assert isinstance(s["created_at"], int) and abs(s["created_at"] - now) < 60_000
    assert isinstance(s["last_used_at"], int) and abs(s["last_used_at"] - now) < 60_000


def test_list_sessions_by_explicit_id(emu):
    t = sign_up(emu)
    assert len(ok(sessions(emu, t["access_token"], user_id=t["user_id"]))["items"]) == 1


def test_create_session_as_server(emu):
    t = sign_up(emu)
    created = ok(call(emu, "POST", "/auth/sessions", access="server", json={"user_id": t["user_id"]}))
    assert set(created) == {"access_token", "refresh_token"}
    assert REFRESH_TOKEN_RE.match(created["refresh_token"])
    c = claims(created["access_token"])
    assert c["sub"] == t["user_id"]
    assert ok(me(emu, created["access_token"]))["id"] == t["user_id"]
    listing = ok(sessions(emu, t["access_token"]))["items"]
    assert len(listing) == 2
    assert listing[0]["id"] == c["refresh_token_id"]  # newest first
    assert [s["is_current_session"] for s in listing] == [False, True]
    assert listing[0]["created_at"] >= listing[1]["created_at"]


def test_create_session_for_me(emu):
    t = sign_up(emu)
    created = ok(call(emu, "POST", "/auth/sessions", access="server", token=t["access_token"], json={"user_id": "me"}))
    assert claims(created["access_token"])["sub"] == t["user_id"]


def test_create_session_for_unknown_user(emu):
    missing = str(uuid.uuid4())
    r = call(emu, "POST", "/auth/sessions", access="server", json={"user_id": missing})
    known_error(r, 400, "USER_ID_DOES_NOT_EXIST", {"user_id": missing})


def test_create_session_from_client_is_refused(emu):
    t = sign_up(emu)
    r = call(emu, "POST", "/auth/sessions", token=t["access_token"], json={"user_id": t["user_id"]})
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE",
                {"actual_access_type": "client", "allowed_access_types": ["server", "admin"]})


def test_create_session_too_long(emu):
    t = sign_up(emu)
    r = call(emu, "POST", "/auth/sessions", access="server",
             json={"user_id": t["user_id"], "expires_in_millis": 31708800001})
    assert schema_error(r, "POST", "/api/v1/auth/sessions") == [
        "body.expires_in_millis must be less than or equal to 31708800000"]
    ok(call(emu, "POST", "/auth/sessions", access="server",
            json={"user_id": t["user_id"], "expires_in_millis": 31708800000}))


def test_session_expiry(emu):
    t = sign_up(emu)
    created = create_session(emu, t["user_id"], expires_in_millis=1000)
    ok(refresh(emu, created["refresh_token"]))
    time.sleep(1.3)
    known_error(refresh(emu, created["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    known_error(token_endpoint(emu, data=refresh_form(emu, created["refresh_token"])), 401,
                "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_list_sessions_requires_user_id(emu):
    r = call(emu, "GET", "/auth/sessions", access="server")
    assert schema_error(r, "GET", "/api/v1/auth/sessions") == ["query.user_id must be defined"]


def test_client_cannot_list_other_users_sessions(emu):
    a, b = sign_up(emu), sign_up(emu)
    text_error(sessions(emu, b["access_token"], user_id=a["user_id"]), 403,
               "Client can only list sessions for their own user.")


def test_server_lists_any_users_sessions(emu):
    t = sign_up(emu)
    items = ok(sessions(emu, access="server", user_id=t["user_id"]))["items"]
    assert len(items) == 1 and items[0]["is_current_session"] is False


def test_impersonation_sessions_only_shown_to_admin(emu):
    u = create_user(emu, project_id="internal")
    internal("POST", emu, "/auth/sessions", json={"user_id": u["id"], "is_impersonation": True})
    internal("POST", emu, "/auth/sessions", json={"user_id": u["id"]})
    server_items = ok(internal("GET", emu, "/auth/sessions", params={"user_id": u["id"]}))["items"]
    assert len(server_items) == 1 and server_items[0]["is_impersonation"] is False
    admin_items = ok(internal("GET", emu, "/auth/sessions", access="admin", params={"user_id": u["id"]}))["items"]
    assert len(admin_items) == 2
    assert sorted(s["is_impersonation"] for s in admin_items) == [False, True]


def test_delete_other_session(emu):
    t = sign_up(emu)
    other = create_session(emu, t["user_id"])
    other_id = claims(other["access_token"])["refresh_token_id"]
    r = call(emu, "DELETE", f"/auth/sessions/{other_id}", token=t["access_token"], params={"user_id": "me"})
    assert ok(r) == {"success": True}
    known_error(refresh(emu, other["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    items = ok(sessions(emu, t["access_token"]))["items"]
    assert [s["id"] for s in items] == [claims(t["access_token"])["refresh_token_id"]]
    ok(refresh(emu, t["refresh_token"]))


def test_cannot_delete_current_session(emu):
    t = sign_up(emu)
    current = claims(t["access_token"])["refresh_token_id"]
    r = call(emu, "DELETE", f"/auth/sessions/{current}", token=t["access_token"], params={"user_id": t["user_id"]})
    known_error(r, 400, "CANNOT_DELETE_CURRENT_SESSION")
    assert len(ok(sessions(emu, t["access_token"]))["items"]) == 1


def test_delete_unknown_session(emu):
    t = sign_up(emu)
    r = call(emu, "DELETE", f"/auth/sessions/{uuid.uuid4()}", token=t["access_token"], params={"user_id": "me"})
    text_error(r, 404, "Session not found.")


def test_client_cannot_delete_someone_elses_session(emu):
    a, b = sign_up(emu), sign_up(emu)
    a_session = claims(a["access_token"])["refresh_token_id"]
    r = call(emu, "DELETE", f"/auth/sessions/{a_session}", token=b["access_token"], params={"user_id": "me"})
    text_error(r, 404, "Session not found.")
    ok(refresh(emu, a["refresh_token"]))


def test_server_deletes_session_without_user_id(emu):
    # The SDK's server app sends no user_id on this call; the contract makes it optional.
    t = sign_up(emu)
    session_id = claims(t["access_token"])["refresh_token_id"]
    assert ok(call(emu, "DELETE", f"/auth/sessions/{session_id}", access="server")) == {"success": True}
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_delete_session_bad_id(emu):
    t = sign_up(emu)
    r = call(emu, "DELETE", "/auth/sessions/not-a-uuid", token=t["access_token"], params={"user_id": "me"})
    known_error(r, 400, "SCHEMA_ERROR", {"message"})


# ---- sign-out ----------------------------------------------------------------------------------------------------

def test_sign_out(emu):
    t = sign_up(emu)
    r = call(emu, "DELETE", "/auth/sessions/current", token=t["access_token"], json={},
             headers={"x-stack-refresh-token": t["refresh_token"]})
    assert ok(r) == {"success": True}
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    # access tokens are stateless: still good until they expire
    assert ok(me(emu, t["access_token"]))["id"] == t["user_id"]
    again = call(emu, "DELETE", "/auth/sessions/current", token=t["access_token"], json={})
    known_error(again, 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_sign_out_without_body_or_refresh_token(emu):
    t = sign_up(emu)
    assert ok(call(emu, "DELETE", "/auth/sessions/current", token=t["access_token"])) == {"success": True}


def test_sign_out_uses_the_access_tokens_session(emu):
    t = sign_up(emu)
    other = create_session(emu, t["user_id"])
    r = call(emu, "DELETE", "/auth/sessions/current", token=t["access_token"], json={},
             headers={"x-stack-refresh-token": other["refresh_token"]})
    assert ok(r) == {"success": True}
    known_error(refresh(emu, t["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")
    ok(refresh(emu, other["refresh_token"]))


def test_sign_out_without_access_token(emu):
    t = sign_up(emu)
    r = call(emu, "DELETE", "/auth/sessions/current", json={}, headers={"x-stack-refresh-token": t["refresh_token"]})
    known_error(r, 401, "ACCESS_TOKEN_EXPIRED", {"expired_at_millis", "project_id", "user_id", "refresh_token_id"})
    ok(refresh(emu, t["refresh_token"]))


def test_sign_out_of_anonymous_user(emu):
    a = anon_sign_up(emu)
    r = call(emu, "DELETE", "/auth/sessions/current", token=a["access_token"], json={}, headers=ALLOW_ANON)
    assert ok(r) == {"success": True}
    known_error(refresh(emu, a["refresh_token"]), 401, "REFRESH_TOKEN_NOT_FOUND_OR_EXPIRED")


def test_sign_in_creates_a_new_session(emu):
    t = sign_up(emu)
    s = sign_in(emu, t["email"])
    assert s["refresh_token"] != t["refresh_token"]
    assert claims(s["access_token"])["refresh_token_id"] != claims(t["access_token"])["refresh_token_id"]
    assert len(ok(sessions(emu, s["access_token"]))["items"]) == 2
