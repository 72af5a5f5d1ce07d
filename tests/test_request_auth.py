"""Request authentication over HTTP: every check of the reference's parseAuth, in its order, with both header
prefixes; access-token errors; access-type requirements; override-error-status; known-error and request-id
headers; CORS; the unknown-route text.

Reference: apps/backend/src/route-handlers/smart-request.tsx (parseAuth), smart-response.tsx, not-found-handler.tsx,
apps/backend/src/proxy.tsx, e2e index.test.ts / users.test.ts / anonymous-comprehensive.test.ts snapshots.
"""
from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from support import INTERNAL_PCK, INTERNAL_SAK, INTERNAL_SSK, start_emulator
from wire import (ALLOW_RESTRICTED, anon_sign_up, call, claims, create_session, create_user, jwt_header, known_error,
                  me, ok, raw, root_auth, sign_up, text_error, write_config)

PREFIXES = ["x-stack", "x-hexclave"]
SERVER_ADMIN = {"actual_access_type": "client", "allowed_access_types": ["server", "admin"]}


@pytest.fixture(scope="module")
def strict():
    """An emulator whose project requires a publishable client key."""
    e = start_emulator(config=write_config({"project": {"requirePublishableClientKey": True}}))
    yield e
    e.stop()


@pytest.fixture(scope="module")
def short():
    """An emulator whose access tokens live one second."""
    e = start_emulator(env={"HEXCLAVE_ACCESS_TOKEN_EXPIRATION_TIME": "1"})
    yield e
    e.stop()


@pytest.fixture(scope="module")
def internal_token(emu):
    """An access token of a user of the `internal` project."""
    user = create_user(emu, project_id="internal", display_name="internal user")
    return create_session(emu, user["id"], project_id="internal")["access_token"]


def root(emu, **kw):
    return call(emu, "GET", emu.api, **kw)


# ---- 1. project keys without an access type ------------------------------------------------------------------------

def test_no_headers_is_unauthenticated(emu):
    assert root_auth(raw(emu, "GET", "/api/v1")) == "None"


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("name", ["publishable-client-key", "secret-server-key", "super-secret-admin-key",
                                  "admin-access-token"])
def test_key_without_access_type(emu, prefix, name):
    r = raw(emu, "GET", "/api/v1", headers={f"{prefix}-project-id": emu.project_id, f"{prefix}-{name}": "abc"})
    known_error(r, 400, "PROJECT_KEY_WITHOUT_ACCESS_TYPE")


def test_key_without_access_type_even_without_project(emu):
    known_error(raw(emu, "GET", "/api/v1", headers={"x-stack-secret-server-key": emu.ssk}), 400,
                "PROJECT_KEY_WITHOUT_ACCESS_TYPE")


def test_access_token_alone_without_access_type_is_ignored(emu):
    # Only keys and admin tokens trigger PROJECT_KEY_WITHOUT_ACCESS_TYPE; without an access type auth is null and the
    # access token is never decoded.
    r = raw(emu, "GET", "/api/v1", headers={"x-stack-access-token": "garbage"})
    assert root_auth(r) == "None"


# ---- 2-4. access type and project id -------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_invalid_access_type(emu, prefix):
    r = raw(emu, "GET", "/api/v1", headers={f"{prefix}-access-type": "superuser", f"{prefix}-project-id": emu.project_id})
    known_error(r, 400, "INVALID_ACCESS_TYPE")


def test_invalid_access_type_is_checked_before_project_id(emu):
    known_error(raw(emu, "GET", "/api/v1", headers={"x-stack-access-type": "root"}), 400, "INVALID_ACCESS_TYPE")


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("access", ["client", "server", "admin"])
def test_access_type_without_project_id(emu, access, prefix):
    r = raw(emu, "GET", "/api/v1", headers={f"{prefix}-access-type": access})
    known_error(r, 400, "ACCESS_TYPE_WITHOUT_PROJECT_ID", {"request_type": access})


def test_access_type_without_project_id_beats_bad_keys(emu):
    r = raw(emu, "GET", "/api/v1", headers={"x-stack-access-type": "server", "x-stack-secret-server-key": "nope"})
    known_error(r, 400, "ACCESS_TYPE_WITHOUT_PROJECT_ID", {"request_type": "server"})


# ---- 6. unknown project ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("access", ["client", "server", "admin"])
def test_unknown_project(emu, access, prefix):
    missing = str(uuid.uuid4())
    r = root(emu, access=access, project_id=missing, key="some-key", prefix=prefix)
    known_error(r, 400, "CURRENT_PROJECT_NOT_FOUND", {"project_id": missing})


def test_unknown_non_uuid_project(emu):
    known_error(root(emu, access="client", project_id="does-not-exist"), 400, "CURRENT_PROJECT_NOT_FOUND",
                {"project_id": "does-not-exist"})


def test_unknown_project_is_checked_before_missing_keys(emu):
    # Project existence is deliberately probe-able: it comes before the key checks.
    r = root(emu, access="server", project_id="no-such-project", key="")
    known_error(r, 400, "CURRENT_PROJECT_NOT_FOUND", {"project_id": "no-such-project"})


# ---- 7. keys ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("prefix", PREFIXES)
def test_client_without_key_is_allowed_by_default(emu, prefix):
    auth = root_auth(root(emu, access="client", key="", prefix=prefix))
    assert auth == f"Client\n  Project: {emu.project_id}\n  User: None"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_client_with_valid_key(emu, prefix):
    auth = root_auth(root(emu, access="client", prefix=prefix))
    assert auth == f"Client\n  Project: {emu.project_id}\n  User: None"


def test_client_sentinel_key_is_accepted_when_not_required(emu):
    auth = root_auth(root(emu, access="client", key="__stack_public_client__"))
    assert auth.startswith("Client\n")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_client_with_invalid_key_even_when_not_required(emu, prefix):
    r = root(emu, access="client", key="pck_invalid", prefix=prefix)
    known_error(r, 401, "INVALID_PUBLISHABLE_CLIENT_KEY", {"project_id": emu.project_id})


def test_client_key_of_another_project(emu):
    r = root(emu, access="client", key=INTERNAL_PCK)
    known_error(r, 401, "INVALID_PUBLISHABLE_CLIENT_KEY", {"project_id": emu.project_id})


def test_client_ignores_other_key_headers(emu):
    r = root(emu, access="client", headers={"x-stack-secret-server-key": "junk", "x-stack-super-secret-admin-key": "junk"})
    assert root_auth(r).startswith("Client\n")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_server_with_valid_key(emu, prefix):
    auth = root_auth(root(emu, access="server", prefix=prefix))
    assert auth == f"Server\n  Project: {emu.project_id}\n  User: None"


@pytest.mark.parametrize("prefix", PREFIXES)
def test_server_without_key(emu, prefix):
    known_error(root(emu, access="server", key="", prefix=prefix), 401, "SERVER_AUTHENTICATION_REQUIRED")


def test_server_with_empty_key_header(emu):
    # The SDK sends an empty x-stack-secret-server-key when it has none.
    r = root(emu, access="server", key="", headers={"x-stack-secret-server-key": ""})
    known_error(r, 401, "SERVER_AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_server_with_wrong_key(emu, prefix):
    r = root(emu, access="server", key="ssk_wrong", prefix=prefix)
    known_error(r, 401, "INVALID_SECRET_SERVER_KEY", {"project_id": emu.project_id})


def test_server_with_publishable_key_instead(emu):
    r = root(emu, access="server", key=emu.pck)
    known_error(r, 401, "INVALID_SECRET_SERVER_KEY", {"project_id": emu.project_id})


def test_server_key_of_another_project(emu):
    r = root(emu, access="server", key=INTERNAL_SSK)
    known_error(r, 401, "INVALID_SECRET_SERVER_KEY", {"project_id": emu.project_id})


@pytest.mark.parametrize("prefix", PREFIXES)
def test_admin_without_key(emu, prefix):
    known_error(root(emu, access="admin", key="", prefix=prefix), 401, "ADMIN_AUTHENTICATION_REQUIRED")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_admin_with_wrong_key(emu, prefix):
    r = root(emu, access="admin", key="sak_wrong", prefix=prefix)
    known_error(r, 401, "INVALID_SUPER_SECRET_ADMIN_KEY", {"project_id": emu.project_id})


def test_admin_key_of_another_project(emu):
    r = root(emu, access="admin", key=INTERNAL_SAK)
    known_error(r, 401, "INVALID_SUPER_SECRET_ADMIN_KEY", {"project_id": emu.project_id})


def test_server_key_does_not_grant_admin(emu):
    r = root(emu, access="admin", key=emu.ssk)
    known_error(r, 401, "INVALID_SUPER_SECRET_ADMIN_KEY", {"project_id": emu.project_id})


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("access", ["client", "server", "admin"])
def test_internal_project_with_local_development_keys(emu, access, prefix):
    auth = root_auth(root(emu, access=access, project_id="internal", prefix=prefix))
    assert auth == f"{access.capitalize()}\n  Project: internal\n  User: None"


@pytest.mark.parametrize("access,code", [("client", "INVALID_PUBLISHABLE_CLIENT_KEY"),
                                         ("server", "INVALID_SECRET_SERVER_KEY"),
                                         ("admin", "INVALID_SUPER_SECRET_ADMIN_KEY")])
def test_internal_project_rejects_wrong_keys(emu, access, code):
    r = root(emu, access=access, project_id="internal", key="this-key-is-wrong")
    known_error(r, 401, code, {"project_id": "internal"})


def test_fixture_keys_do_not_open_the_internal_project(emu):
    r = root(emu, access="server", project_id="internal", key=emu.ssk)
    known_error(r, 401, "INVALID_SECRET_SERVER_KEY", {"project_id": "internal"})


def test_hexclave_header_wins_when_both_prefixes_are_sent(emu):
    r = raw(emu, "GET", "/api/v1", headers={
        "x-stack-access-type": "client", "x-stack-project-id": "not-a-project",
        "x-hexclave-access-type": "client", "x-hexclave-project-id": emu.project_id,
    })
    assert root_auth(r) == f"Client\n  Project: {emu.project_id}\n  User: None"


def test_mixed_prefixes_form_one_header_set(emu):
    r = raw(emu, "GET", "/api/v1", headers={"x-hexclave-access-type": "server", "x-stack-project-id": emu.project_id,
                                           "x-hexclave-secret-server-key": emu.ssk})
    assert root_auth(r) == f"Server\n  Project: {emu.project_id}\n  User: None"


# ---- 7. development override key, 8. branch -------------------------------------------------------------------------

def test_development_override_key_opens_any_project(emu):
    r = root(emu, access="admin", key="", headers={"x-stack-development-override-key": INTERNAL_SAK})
    assert root_auth(r) == f"Admin\n  Project: {emu.project_id}\n  User: None"


def test_wrong_development_override_key(emu):
    r = root(emu, access="admin", key="", headers={"x-stack-development-override-key": "nope"})
    text_error(r, 401)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_main_branch_is_accepted(emu, prefix):
    r = root(emu, access="server", prefix=prefix, headers={f"{prefix}-branch-id": "main"})
    assert root_auth(r).startswith("Server\n")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_unknown_branch(emu, prefix):
    r = root(emu, access="client", prefix=prefix, headers={f"{prefix}-branch-id": "invalid-branch"})
    known_error(r, 400, "BRANCH_DOES_NOT_EXIST", {"branch_id": "invalid-branch"})


def test_unknown_branch_is_checked_after_the_keys(emu):
    r = root(emu, access="server", key="wrong", headers={"x-stack-branch-id": "invalid-branch"})
    known_error(r, 401, "INVALID_SECRET_SERVER_KEY", {"project_id": emu.project_id})


# ---- requirePublishableClientKey -----------------------------------------------------------------------------------

def test_required_client_key_missing(strict):
    known_error(root(strict, access="client", key=""), 401, "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT",
                {"project_id": strict.project_id})


def test_required_client_key_sentinel_is_not_enough(strict):
    known_error(root(strict, access="client", key="__stack_public_client__"), 401,
                "PUBLISHABLE_CLIENT_KEY_REQUIRED_FOR_PROJECT", {"project_id": strict.project_id})


def test_required_client_key_invalid(strict):
    known_error(root(strict, access="client", key="pck_nope"), 401, "INVALID_PUBLISHABLE_CLIENT_KEY",
                {"project_id": strict.project_id})


@pytest.mark.parametrize("prefix", PREFIXES)
def test_required_client_key_present(strict, prefix):
    assert root_auth(root(strict, access="client", prefix=prefix)).startswith("Client\n")


def test_required_client_key_does_not_affect_server(strict):
    assert root_auth(root(strict, access="server")).startswith("Server\n")


# ---- 5. access tokens ---------------------------------------------------------------------------------------------

def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("token", ["garbage", "12341234", "a.b.c"])
def test_unparsable_access_token(emu, token, prefix):
    known_error(me(emu, token, prefix=prefix), 401, "UNPARSABLE_ACCESS_TOKEN")


def test_unparsable_access_token_on_server_access(emu):
    known_error(me(emu, "garbage", access="server"), 401, "UNPARSABLE_ACCESS_TOKEN")


def test_token_signed_by_another_key_is_unparsable(emu):
    real = sign_up(emu)["access_token"]
    forged = jwt.encode(claims(real), ec.generate_private_key(ec.SECP256R1()), algorithm="ES256",
                        headers={"kid": jwt_header(real)["kid"]})
    known_error(me(emu, forged), 401, "UNPARSABLE_ACCESS_TOKEN")


def test_unsigned_token_is_unparsable(emu):
    real = sign_up(emu)["access_token"]
    payload = claims(real)
    payload["exp"] = int(time.time()) + 3600
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(payload)}."
    known_error(me(emu, unsigned), 401, "UNPARSABLE_ACCESS_TOKEN")


def test_tampered_token_is_unparsable(emu):
    real = sign_up(emu)["access_token"]
    header, payload, signature = real.split(".")
    altered = claims(real)
    altered["sub"] = str(uuid.uuid4())
    known_error(me(emu, f"{header}.{_b64(altered)}.{signature}"), 401, "UNPARSABLE_ACCESS_TOKEN")


def test_access_token_is_decoded_before_the_project_is_looked_up(emu):
    r = me(emu, "garbage", project_id="no-such-project")
    known_error(r, 401, "UNPARSABLE_ACCESS_TOKEN")


def test_access_token_is_decoded_before_the_keys_are_checked(emu):
    known_error(me(emu, "garbage", access="server", key="ssk_wrong"), 401, "UNPARSABLE_ACCESS_TOKEN")


def test_access_token_of_another_project(emu, internal_token):
    known_error(me(emu, internal_token), 401, "INVALID_PROJECT_FOR_ACCESS_TOKEN",
                {"expected_project_id": emu.project_id, "actual_project_id": "internal"})


def test_access_token_project_mismatch_wins_over_unknown_project(emu, internal_token):
    known_error(me(emu, internal_token, project_id="nope"), 401, "INVALID_PROJECT_FOR_ACCESS_TOKEN",
                {"expected_project_id": "nope", "actual_project_id": "internal"})


def test_access_token_of_another_project_on_server_access(emu, internal_token):
    known_error(me(emu, internal_token, access="server"), 401, "INVALID_PROJECT_FOR_ACCESS_TOKEN",
                {"expected_project_id": emu.project_id, "actual_project_id": "internal"})


def test_internal_token_works_on_internal_project(emu, internal_token):
    body = ok(me(emu, internal_token, project_id="internal"))
    assert body["display_name"] == "internal user"


def test_expired_access_token(short):
    tokens = sign_up(short)
    c = claims(tokens["access_token"])
    assert c["exp"] - c["iat"] == 1
    assert ok(me(short, tokens["access_token"]))["id"] == tokens["user_id"]  # still valid right away
    time.sleep(max(0.0, c["exp"] + 1.2 - time.time()))
    body = known_error(me(short, tokens["access_token"]), 401, "ACCESS_TOKEN_EXPIRED",
                       {"expired_at_millis", "project_id", "user_id", "refresh_token_id"})
    assert body["details"] == {"expired_at_millis": c["exp"] * 1000, "project_id": short.project_id,
                               "user_id": tokens["user_id"], "refresh_token_id": c["refresh_token_id"]}
    # ... on every access type, and the refresh token still gives a fresh one.
    known_error(me(short, tokens["access_token"], access="server"), 401, "ACCESS_TOKEN_EXPIRED",
                {"expired_at_millis", "project_id", "user_id", "refresh_token_id"})
    fresh = ok(call(short, "POST", "/auth/sessions/current/refresh",
                    headers={"x-stack-refresh-token": tokens["refresh_token"]}))["access_token"]
    assert ok(me(short, fresh))["id"] == tokens["user_id"]


# anonymous and restricted users

@pytest.fixture(scope="module")
def anon(emu):
    return anon_sign_up(emu)


@pytest.mark.parametrize("headers", [{}, {"x-stack-allow-anonymous-user": "false"}, ALLOW_RESTRICTED,
                                     {"x-stack-allow-anonymous-user": "yes"}])
def test_anonymous_token_without_allow_header(emu, anon, headers):
    known_error(me(emu, anon["access_token"], headers=headers), 401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED")


def test_anonymous_token_rejected_on_server_access_too(emu, anon):
    known_error(me(emu, anon["access_token"], access="server"), 401, "ANONYMOUS_AUTHENTICATION_NOT_ALLOWED")


@pytest.mark.parametrize("prefix", PREFIXES)
def test_anonymous_token_with_allow_header(emu, anon, prefix):
    body = ok(me(emu, anon["access_token"], prefix=prefix, headers={f"{prefix}-allow-anonymous-user": "true"}))
    assert body["id"] == anon["user_id"]
    assert body["is_anonymous"] is True


@pytest.fixture(scope="module")
def restricted(emu):
    user = create_user(emu, display_name="restricted", restricted_by_admin=True,
                       restricted_by_admin_reason="testing")
    return {"user_id": user["id"], **create_session(emu, user["id"])}


def test_restricted_token_without_allow_header(emu, restricted):
    known_error(me(emu, restricted["access_token"]), 403, "RESTRICTED_USER_NOT_ALLOWED",
                {"restricted_reason": {"type": "restricted_by_administrator"}})


def test_restricted_token_with_allow_header_false(emu, restricted):
    known_error(me(emu, restricted["access_token"], headers={"x-stack-allow-restricted-user": "false"}), 403,
                "RESTRICTED_USER_NOT_ALLOWED", {"restricted_reason": {"type": "restricted_by_administrator"}})


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("which", ["allow-restricted-user", "allow-anonymous-user"])
def test_restricted_token_with_allow_header(emu, restricted, which, prefix):
    body = ok(me(emu, restricted["access_token"], prefix=prefix, headers={f"{prefix}-{which}": "true"}))
    assert body["id"] == restricted["user_id"]
    assert body["is_restricted"] is True
    assert body["restricted_reason"] == {"type": "restricted_by_administrator"}


def test_signed_in_user_shows_in_root_text(emu):
    tokens = sign_up(emu)
    auth = root_auth(root(emu, token=tokens["access_token"]))
    assert auth == f"Client\n  Project: {emu.project_id}\n  User: {tokens['email']}"


# ---- 1.3 access-type requirements -----------------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", [
    ("GET", "/users", None),
    ("POST", "/users", {}),
    ("GET", f"/users/{uuid.uuid4()}", None),
    ("GET", "/users/123", None),  # auth errors win over the UUID schema error
    ("PATCH", f"/users/{uuid.uuid4()}", {"display_name": "x"}),
    ("DELETE", f"/users/{uuid.uuid4()}", None),
    ("POST", "/auth/sessions", {"user_id": str(uuid.uuid4())}),
])
def test_insufficient_access_type(emu, method, path, body):
    r = call(emu, method, path, json=body)
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", SERVER_ADMIN)


def test_insufficient_access_type_wins_over_schema_errors(emu):
    r = call(emu, "GET", "/users", params={"limit": "abc", "bogus": "1"})
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", SERVER_ADMIN)


def test_insufficient_access_type_with_hexclave_headers(emu):
    r = call(emu, "GET", "/users", prefix="x-hexclave")
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", SERVER_ADMIN)


@pytest.mark.parametrize("method,path,body", [
    ("GET", "/users/me", None),
    ("GET", "/users", None),
    ("GET", "/projects/current", None),
    ("POST", "/auth/password/sign-in", {}),  # auth errors win over the body errors
    ("POST", "/auth/sessions", {"user_id": "not-a-uuid"}),
    ("DELETE", "/auth/sessions/current", {}),
])
def test_access_type_required(emu, method, path, body):
    known_error(call(emu, method, path, access=None, json=body), 400, "ACCESS_TYPE_REQUIRED")


# ---- 1.5 override-error-status -----------------------------------------------------------------------------------

@pytest.mark.parametrize("header,value", [("x-stack-override-error-status", "true"),
                                          ("x-hexclave-override-error-status", "true"),
                                          ("x-stack-override-error-status", "false")])
def test_override_error_status_turns_4xx_into_200(emu, header, value):
    r = call(emu, "GET", "/users", headers={header: value})
    assert r.status_code == 200, r.text
    dialect = header.split("-override")[0]  # answered in the dialect the request used
    assert r.headers.get(f"{dialect}-actual-status") == "401"
    assert r.headers.get(f"{dialect}-known-error") == "INSUFFICIENT_ACCESS_TYPE"
    assert r.json()["details"] == SERVER_ADMIN


def test_override_error_status_on_auth_errors(emu):
    r = root(emu, access="server", key="wrong", headers={"x-stack-override-error-status": "true"})
    assert r.status_code == 200
    assert r.headers["x-stack-actual-status"] == "401"
    assert r.json()["code"] == "INVALID_SECRET_SERVER_KEY"


def test_override_error_status_on_text_errors(emu):
    r = call(emu, "GET", "/users", access="server", params={"only_anonymous": "true"},
             headers={"x-stack-override-error-status": "true"})
    assert r.status_code == 200
    assert r.headers["x-stack-actual-status"] == "400"
    assert "include_anonymous" in r.text and "x-stack-known-error" not in r.headers


def test_override_error_status_on_unknown_route(emu):
    r = raw(emu, "GET", "/api/v1/no-such-route", headers={"x-stack-override-error-status": "true"})
    assert r.status_code == 200
    assert r.headers["x-stack-actual-status"] == "404"


def test_override_error_status_leaves_success_alone(emu):
    r = root(emu, headers={"x-stack-override-error-status": "true"})
    assert r.status_code == 200
    assert "x-stack-actual-status" not in r.headers
    assert "x-hexclave-actual-status" not in r.headers


def test_no_override_without_the_header(emu):
    r = call(emu, "GET", "/users")
    assert r.status_code == 401
    assert "x-stack-actual-status" not in r.headers


# ---- known-error format -------------------------------------------------------------------------------------------

def test_protocol_headers_answer_in_the_dialect_asked(emu):
    """x-stack-* requests (and requests with neither prefix) get x-stack-* answers, as the platform sends them;
    x-hexclave-* requests get x-hexclave-* answers. Never both, and no `server` header."""
    for prefix, other in (("x-stack", "x-hexclave"), ("x-hexclave", "x-stack")):
        r = call(emu, "GET", "/users", prefix=prefix, headers={f"{prefix}-override-error-status": "true"})
        assert r.headers[f"{prefix}-known-error"] == "INSUFFICIENT_ACCESS_TYPE"
        assert r.headers[f"{prefix}-actual-status"] == "401" and r.headers[f"{prefix}-request-id"]
        assert not [name for name in r.headers if name.startswith(other + "-")], r.headers
        assert "server" not in r.headers
        assert r.headers["content-type"] == "application/json; charset=utf-8"
    r = raw(emu, "GET", "/api/v1/users")
    assert r.headers["x-stack-known-error"] and "x-hexclave-known-error" not in r.headers


def test_known_error_body_key_order_and_indent(emu):
    r = call(emu, "GET", "/users")
    body = r.json()
    assert list(body) == ["code", "details", "error"]
    assert r.text.strip() == json.dumps(body, indent=2, ensure_ascii=False)
    r2 = call(emu, "GET", "/users/me")  # no details
    assert list(r2.json()) == ["code", "error"]


def test_known_error_header_matches_body_code(emu):
    for r in (root(emu, access="server", key=""), me(emu, "garbage"), call(emu, "GET", "/users/me")):
        assert r.headers["x-stack-known-error"] == r.json()["code"]


# ---- request id, CORS, 404 -----------------------------------------------------------------------------------------

def test_request_id_on_every_response(emu):
    responses = [root(emu), call(emu, "GET", "/users"), raw(emu, "GET", "/api/v1/nope"), me(emu, "garbage")]
    ids = []
    for r in responses:
        assert r.headers.get("x-stack-request-id"), r.headers
        assert "x-hexclave-request-id" not in r.headers
        ids.append(r.headers["x-stack-request-id"])
    assert len(set(ids)) == len(ids)


def test_cache_control_default(emu):
    assert root(emu).headers.get("cache-control") == "no-store, max-age=0"
    assert call(emu, "GET", "/users").headers.get("cache-control") == "no-store, max-age=0"


SDK_HEADERS = [
    "content-type", "x-hexclave-project-id", "x-hexclave-access-type", "x-hexclave-publishable-client-key",
    "x-hexclave-secret-server-key", "x-hexclave-access-token", "x-hexclave-refresh-token",
    "x-hexclave-allow-anonymous-user", "x-hexclave-override-error-status", "x-hexclave-client-version",
    "x-hexclave-random-nonce", "x-stack-project-id", "x-stack-access-type", "x-stack-publishable-client-key",
    "x-stack-access-token", "x-stack-refresh-token", "x-stack-override-error-status", "ngrok-skip-browser-warning",
]


@pytest.mark.parametrize("path", ["/api/v1/users/me", "/api/v1/auth/oauth/token", "/api/v1/not-a-route",
                                  "/api/latest/projects/current"])
def test_cors_preflight_allows_both_header_prefixes(emu, path):
    r = raw(emu, "OPTIONS", path, headers={
        "Origin": "http://localhost:3000",
        "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": ", ".join(SDK_HEADERS),
    })
    assert r.status_code == 200, r.text
    assert r.content == b""
    assert r.headers.get("access-control-allow-origin") == "*"
    methods = {m.strip().upper() for m in r.headers.get("access-control-allow-methods", "").split(",")}
    assert {"GET", "POST", "PATCH", "DELETE", "OPTIONS"} <= methods
    allowed = {h.strip().lower() for h in r.headers.get("access-control-allow-headers", "").split(",")}
    assert "*" in allowed or set(SDK_HEADERS) <= allowed, allowed - set(SDK_HEADERS)
    assert "access-control-allow-credentials" not in r.headers or \
        r.headers["access-control-allow-credentials"] != "true"


def test_cors_headers_on_normal_responses(emu):
    r = call(emu, "GET", "/users", headers={"Origin": "http://localhost:3000"})
    assert r.headers.get("access-control-allow-origin") == "*"
    exposed = {h.strip().lower() for h in r.headers.get("access-control-expose-headers", "").split(",")}
    assert {"x-stack-actual-status", "x-stack-known-error", "x-hexclave-actual-status",
            "x-hexclave-known-error"} <= exposed


def test_unknown_route_404_text(emu):
    url = emu.api + "/this-route-does-not-exist"
    r = raw(emu, "GET", "/api/v1/this-route-does-not-exist")
    text = text_error(r, 404)
    assert text.startswith("404 — this page does not exist in ")
    assert text.endswith(f"\n\nURL: {url}")


def test_unknown_route_404_with_auth_headers(emu):
    r = call(emu, "POST", "/definitely/not/here", json={})
    text = text_error(r, 404)
    assert text.startswith("404 — this page does not exist in ")
