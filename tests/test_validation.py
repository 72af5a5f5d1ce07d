"""Request validation over HTTP: the SCHEMA_ERROR message format, unknown properties, body parsing by content
type (never a 500), wrong types, yup-style casting, missing bodies.

Reference: apps/backend/src/route-handlers/smart-request.tsx (parseBody, validate), e2e snapshots in index.test.ts,
users.test.ts, auth/password/*.test.ts, auth/sessions/index.test.ts.
"""
from __future__ import annotations

import json
import uuid

import pytest

from wire import PASSWORD, call, create_user, known_error, me, ok, schema_error, sign_up


@pytest.fixture(scope="module")
def user(emu):
    return sign_up(emu)


def post_raw(emu, path, content, content_type=None, access="client", **kw):
    headers = {"content-type": content_type} if content_type is not None else {}
    return call(emu, "POST", path, access=access, content=content, headers=headers, **kw)


# ---- the SCHEMA_ERROR format ----------------------------------------------------------------------------------------

def test_schema_error_exact_format(emu):
    r = call(emu, "GET", emu.api + "?extra=param", access=None)
    body = known_error(r, 400, "SCHEMA_ERROR", {"message"})
    expected = "Request validation failed on GET /api/v1:\n  - query contains unknown properties: extra"
    assert body == {"code": "SCHEMA_ERROR", "details": {"message": expected}, "error": expected}


def test_schema_error_lists_every_unknown_query_property(emu):
    r = call(emu, "GET", emu.api, access=None, params={"a": "1", "b": "2"})
    [line] = schema_error(r, "GET", "/api/v1")
    prefix = "query contains unknown properties: "
    assert line.startswith(prefix)
    assert sorted(line[len(prefix):].split(", ")) == ["a", "b"]


def test_schema_error_path_excludes_query_string(emu):
    r = call(emu, "GET", "/users", access="server", params={"limit": "0"})
    assert schema_error(r, "GET", "/api/v1/users") == ["query.limit must be greater than or equal to 1"]


def test_schema_error_path_is_printed_as_requested(emu, user):
    r = call(emu, "PATCH", emu.url + "/api/latest/users/me", token=user["access_token"],
             json={"server_metadata": {}})
    assert schema_error(r, "PATCH", "/api/latest/users/me") == ["body contains unknown properties: server_metadata"]


def test_schema_error_lists_all_errors(emu):
    r = call(emu, "POST", "/auth/password/sign-in", json={})
    lines = schema_error(r, "POST", "/api/v1/auth/password/sign-in")
    assert sorted(lines) == ["body.email must be defined", "body.password must be defined"]


def test_schema_error_on_unknown_query_of_a_list(emu):
    r = call(emu, "GET", "/users", access="server", params={"bogus": "1"})
    assert schema_error(r, "GET", "/api/v1/users") == ["query contains unknown properties: bogus"]


# ---- unknown body properties ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("field", ["server_metadata", "client_read_only_metadata", "primary_email_verified",
                                   "restricted_by_admin", "password", "is_anonymous"])
def test_client_update_rejects_server_fields(emu, user, field):
    r = call(emu, "PATCH", "/users/me", token=user["access_token"], json={"display_name": "Johnny", field: None})
    assert schema_error(r, "PATCH", "/api/v1/users/me") == [f"body contains unknown properties: {field}"]
    assert ok(me(emu, user["access_token"]))["display_name"] != "Johnny"  # nothing was applied


def test_several_unknown_body_properties(emu, user):
    r = call(emu, "PATCH", "/users/me", token=user["access_token"], json={"foo": 1, "bar": 2})
    [line] = schema_error(r, "PATCH", "/api/v1/users/me")
    prefix = "body contains unknown properties: "
    assert line.startswith(prefix)
    assert sorted(line[len(prefix):].split(", ")) == ["bar", "foo"]


def test_unknown_properties_in_nested_objects(emu):
    u = create_user(emu)
    r = call(emu, "PATCH", f"/users/{u['id']}", access="server",
             json={"risk_scores": {"sign_up": {"bot": 1, "free_trial_abuse": 2, "extra": 3}}})
    assert schema_error(r, "PATCH", f"/api/v1/users/{u['id']}") == [
        "body.risk_scores.sign_up contains unknown properties: extra"]


def test_metadata_is_free_form(emu, user):
    value = {"deep": {"x": [1, {"y": None}], "anything": "goes"}, "n": 1.5}
    body = ok(call(emu, "PATCH", "/users/me", token=user["access_token"], json={"client_metadata": value}))
    assert body["client_metadata"] == value


# ---- body parsing --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", [b"{not json", b"{\"email\": ", b"", b"undefined", b"{'a': 1}"])
def test_invalid_json_is_body_parsing_error(emu, content):
    r = post_raw(emu, "/auth/password/sign-in", content, "application/json")
    known_error(r, 400, "BODY_PARSING_ERROR")


def test_invalid_json_on_a_crud_route(emu, user):
    r = call(emu, "PATCH", "/users/me", token=user["access_token"], content=b"{oops",
             headers={"content-type": "application/json"})
    known_error(r, 400, "BODY_PARSING_ERROR")


def test_invalid_utf8_json_is_body_parsing_error(emu):
    r = post_raw(emu, "/auth/password/sign-in", b"\xff\xfe{\xc3\x28}", "application/json")
    known_error(r, 400, "BODY_PARSING_ERROR")


@pytest.mark.parametrize("content_type", ["application/xml", "image/png", "multipart/form-data; boundary=x",
                                          "application/jsonp"])
def test_unknown_content_type_is_body_parsing_error(emu, content_type):
    r = post_raw(emu, "/auth/password/sign-in", b"<a/>", content_type)
    known_error(r, 400, "BODY_PARSING_ERROR")


def test_body_parsing_happens_before_auth(emu):
    r = post_raw(emu, "/auth/password/sign-in", b"{bad", "application/json", access=None)
    known_error(r, 400, "BODY_PARSING_ERROR")


def test_content_type_parameters_are_ignored(emu, user):
    content = json.dumps({"email": user["email"], "password": user["password"]}).encode()
    r = post_raw(emu, "/auth/password/sign-in", content, "application/json; charset=utf-8")
    assert ok(r)["user_id"] == user["user_id"]


def test_form_encoded_body_is_a_flat_string_map(emu, user):
    r = call(emu, "POST", "/auth/password/sign-in", data={"email": user["email"], "password": user["password"]})
    assert ok(r)["user_id"] == user["user_id"]


def test_text_body_is_a_string_not_an_object(emu, user):
    content = json.dumps({"email": user["email"], "password": user["password"]}).encode()
    r = post_raw(emu, "/auth/password/sign-in", content, "text/plain")
    known_error(r, 400, "SCHEMA_ERROR", {"message"})


@pytest.mark.parametrize("content", [b"[1, 2]", b"null", b"\"a string\"", b"42"])
def test_json_that_is_not_an_object(emu, content):
    r = post_raw(emu, "/auth/password/sign-in", content, "application/json")
    known_error(r, 400, "SCHEMA_ERROR", {"message"})


def test_missing_body(emu):
    r = call(emu, "POST", "/auth/password/sign-in")
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-in") == ["body must be defined"]


def test_body_without_content_type_is_missing(emu, user):
    content = json.dumps({"email": user["email"], "password": user["password"]}).encode()
    r = post_raw(emu, "/auth/password/sign-in", content, None)
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-in") == ["body must be defined"]


def test_get_bodies_are_ignored(emu, user):
    r = call(emu, "GET", "/users/me", token=user["access_token"], content=b"<not json>",
             headers={"content-type": "application/xml"})
    assert ok(r)["id"] == user["user_id"]


# ---- types and formats ---------------------------------------------------------------------------------------------

def test_wrong_type_string(emu):
    r = call(emu, "POST", "/auth/password/sign-in", json={"email": {"a": 1}, "password": "x" * 10})
    [line] = schema_error(r, "POST", "/api/v1/auth/password/sign-in")
    assert line == 'body.email must be a `string` type, but the final value was: `{\n  "a": 1\n}`.', line  # yup


def test_wrong_type_boolean(emu):
    u = create_user(emu, primary_email=f"t-{uuid.uuid4().hex[:8]}@example.com")
    r = call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"primary_email_verified": "maybe"})
    [line] = schema_error(r, "PATCH", f"/api/v1/users/{u['id']}")
    assert line.startswith("body.primary_email_verified must be a `boolean` type"), line


def test_wrong_type_number_in_query(emu):
    r = call(emu, "GET", "/users", access="server", params={"limit": "abc"})
    [line] = schema_error(r, "GET", "/api/v1/users")
    assert line.startswith("query.limit must be a `number` type"), line


def test_integer_required(emu):
    r = call(emu, "GET", "/users", access="server", params={"limit": "1.5"})
    assert schema_error(r, "GET", "/api/v1/users") == ["query.limit must be an integer"]


def test_invalid_uuid_param(emu):
    r = call(emu, "GET", "/users/not-a-uuid", access="server")
    assert schema_error(r, "GET", "/api/v1/users/not-a-uuid") == ["params.user_id must be a valid UUID"]


def test_uuid_params_take_rfc_4122_versions_1_to_5_only(emu):
    """As the platform's validator: hex in UUID shape with another version or variant is a schema error, not 404."""
    for not_rfc in ("01234567-89ab-cdef-0123-456789abcdef", "01234567-89ab-4def-7123-456789abcdef"):
        r = call(emu, "DELETE", f"/users/{not_rfc}", access="server")
        assert schema_error(r, "DELETE", f"/api/v1/users/{not_rfc}") == ["params.user_id must be a valid UUID"]
    for unknown in ("01234567-89ab-4def-8123-456789abcdef", "00000000-0000-0000-0000-000000000000"):
        assert call(emu, "DELETE", f"/users/{unknown}", access="server").status_code == 404


def test_invalid_uuid_query(emu):
    r = call(emu, "GET", "/users", access="server", params={"cursor": "nope"})
    assert schema_error(r, "GET", "/api/v1/users") == ["query.cursor must be a valid UUID"]


def test_empty_email_on_sign_in(emu):
    r = call(emu, "POST", "/auth/password/sign-in", json={"email": "", "password": "some-password"})
    assert schema_error(r, "POST", "/api/v1/auth/password/sign-in") == ["body.email must not be empty"]


def test_invalid_email_on_sign_up(emu):
    r = call(emu, "POST", "/auth/password/sign-up", json={"email": "not-an-email", "password": PASSWORD})
    lines = schema_error(r, "POST", "/api/v1/auth/password/sign-up")
    assert lines and all(line.startswith("body.email ") for line in lines), lines


def test_number_maximum(emu, user):
    r = call(emu, "POST", "/auth/sessions", access="server",
             json={"user_id": user["user_id"], "expires_in_millis": 1000 * 60 * 60 * 24 * 370})
    assert schema_error(r, "POST", "/api/v1/auth/sessions") == [
        "body.expires_in_millis must be less than or equal to 31708800000"]


def test_string_maximum(emu, user):
    r = call(emu, "PATCH", "/users/me", token=user["access_token"], json={"display_name": "x" * 257})
    [line] = schema_error(r, "PATCH", "/api/v1/users/me")
    assert line == "body.display_name must be at most 256 characters"


def test_one_of(emu):
    u = create_user(emu)
    r = call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"is_anonymous": True})
    assert schema_error(r, "PATCH", f"/api/v1/users/{u['id']}") == [
        "body.is_anonymous must be one of the following values: false"]


def test_invalid_base64(emu, user):
    r = call(emu, "PATCH", "/users/me", token=user["access_token"], json={"totp_secret_base64": "not-valid-base64"})
    assert schema_error(r, "PATCH", "/api/v1/users/me") == ["body.totp_secret_base64 is not valid base64"]


def test_invalid_url(emu, user):
    r = call(emu, "PATCH", "/users/me", access="server", token=user["access_token"], json={"profile_image_url": ""})
    assert schema_error(r, "PATCH", "/api/v1/users/me") == ["body.profile_image_url is not a valid URL"]
    r = call(emu, "PATCH", "/users/me", access="server", token=user["access_token"],
             json={"profile_image_url": "http://exa mple.com"})
    assert schema_error(r, "PATCH", "/api/v1/users/me") == [  # every failed rule of one value, as yup lists them
        "body.profile_image_url contains spaces", "body.profile_image_url is not a valid URL"]


def test_required_query_parameter(emu):
    r = call(emu, "GET", "/auth/sessions", access="server")
    assert schema_error(r, "GET", "/api/v1/auth/sessions") == ["query.user_id must be defined"]


# ---- casting (yup is not strict) ----------------------------------------------------------------------------------

def test_numbers_are_cast_to_strings(emu, user):
    body = ok(call(emu, "PATCH", "/users/me", token=user["access_token"], json={"display_name": 123}))
    assert body["display_name"] == "123"


def test_boolean_strings_are_cast(emu):
    u = create_user(emu, primary_email=f"t-{uuid.uuid4().hex[:8]}@example.com")
    body = ok(call(emu, "PATCH", f"/users/{u['id']}", access="server", json={"primary_email_verified": "true"}))
    assert body["primary_email_verified"] is True


def test_numeric_query_strings_are_cast(emu):
    body = ok(call(emu, "GET", "/users", access="server", params={"limit": "1"}))
    assert len(body["items"]) <= 1
