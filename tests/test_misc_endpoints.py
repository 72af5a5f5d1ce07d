"""Misc endpoints over HTTP: the /api/v1 root text, /projects/current (client shape from the config file),
/check-feature-support, /check-version, /internal/backend-urls, the /api/latest alias, envelope headers.

Reference: apps/backend/src/app/api/latest/{route.ts, check-feature-support, check-version, internal/backend-urls,
projects/current}, e2e index.test.ts, projects.test.ts, check-feature-support.test.ts.
"""
from __future__ import annotations

import json
import re

import pytest

from support import start_emulator
from wire import (ALLOW_ANON, JSON_CT, TEXT_CT, anon_sign_up, call, known_error, ok, raw, root_auth, schema_error,
                  sign_up, write_config)

CLIENT_PROJECT_CONFIG_KEYS = {
    "sign_up_enabled", "credential_enabled", "magic_link_enabled", "passkey_enabled", "client_team_creation_enabled",
    "client_user_deletion_enabled", "allow_user_api_keys", "allow_team_api_keys", "enabled_oauth_providers", "domains",
}
OPTIONAL_CLIENT_PROJECT_CONFIG_KEYS = {"allow_localhost"}

FLIPPED = {
    "auth": {
        "allowSignUp": False,
        "password": {"allowSignIn": False},
        "otp": {"allowSignIn": False},
        "passkey": {"allowSignIn": True},
        "oauth": {"providers": {
            "spotify": {"type": "spotify", "allowSignIn": True},
            "discord": {"type": "discord", "allowSignIn": True},
            "github": {"type": "github", "allowSignIn": False, "allowConnectedAccounts": True},
        }},
    },
    "teams": {"allowClientTeamCreation": False, "createPersonalTeamOnSignUp": True},
    "users": {"allowClientUserDeletion": False},
    "apiKeys": {"enabled": {"user": False, "team": True}},
    "domains": {"trustedDomains": {
        "second": {"baseUrl": "https://b.example.com", "handlerPath": "/auth"},
        "first": {"baseUrl": "https://a.example.com"},
    }},
}


@pytest.fixture(scope="module")
def flipped():
    e = start_emulator(config=write_config(FLIPPED))
    yield e
    e.stop()


def project(emu, **kw):
    return call(emu, "GET", "/projects/current", **kw)


# ---- GET /api/v1 -------------------------------------------------------------------------------------------------

def test_root_without_auth(emu):
    r = raw(emu, "GET", "/api/v1")
    assert root_auth(r) == "None"
    assert r.headers["content-type"] == TEXT_CT


def test_root_with_client_auth(emu):
    assert root_auth(call(emu, "GET", emu.api)) == f"Client\n  Project: {emu.project_id}\n  User: None"


def test_root_with_server_auth(emu):
    assert root_auth(call(emu, "GET", emu.api, access="server")) == f"Server\n  Project: {emu.project_id}\n  User: None"


def test_root_with_admin_auth(emu):
    r = call(emu, "GET", emu.api, access="admin", project_id="internal")
    assert root_auth(r) == "Admin\n  Project: internal\n  User: None"


def test_root_names_the_user_by_email(emu):
    t = sign_up(emu)
    assert root_auth(call(emu, "GET", emu.api, token=t["access_token"])) == \
        f"Client\n  Project: {emu.project_id}\n  User: {t['email']}"


def test_root_names_a_user_without_email_by_id(emu):
    a = anon_sign_up(emu)
    r = call(emu, "GET", emu.api, token=a["access_token"], headers=ALLOW_ANON)
    assert root_auth(r) == f"Client\n  Project: {emu.project_id}\n  User: {a['user_id']}"


def test_root_rejects_query_parameters(emu):
    r = raw(emu, "GET", "/api/v1", params={"extra": "param"})
    assert schema_error(r, "GET", "/api/v1") == ["query contains unknown properties: extra"]
    r = call(emu, "GET", emu.api, params={"extra": "param"})
    assert schema_error(r, "GET", "/api/v1") == ["query contains unknown properties: extra"]


def test_root_only_answers_get(emu):
    assert raw(emu, "POST", "/api/v1", json={}).status_code == 405


def test_api_latest_alias(emu):
    assert root_auth(raw(emu, "GET", "/api/latest")) == "None"
    r = call(emu, "GET", emu.url + "/api/latest")
    assert root_auth(r) == f"Client\n  Project: {emu.project_id}\n  User: None"
    r = raw(emu, "GET", "/api/latest", params={"extra": "1"})
    assert schema_error(r, "GET", "/api/latest") == ["query contains unknown properties: extra"]


def test_api_latest_alias_for_users(emu):
    t = sign_up(emu)
    v1 = ok(call(emu, "GET", "/users/me", token=t["access_token"]))
    latest = ok(call(emu, "GET", emu.url + "/api/latest/users/me", token=t["access_token"]))
    assert v1 == latest


def test_method_not_allowed_on_known_route(emu):
    t = sign_up(emu)
    r = call(emu, "PUT", "/users/me", token=t["access_token"], json={})
    assert r.status_code == 405


# ---- GET /projects/current -----------------------------------------------------------------------------------------

def check_client_project_shape(body):
    assert set(body) == {"id", "display_name", "config"}, body
    assert isinstance(body["display_name"], str) and body["display_name"]
    keys = set(body["config"])
    assert CLIENT_PROJECT_CONFIG_KEYS <= keys <= CLIENT_PROJECT_CONFIG_KEYS | OPTIONAL_CLIENT_PROJECT_CONFIG_KEYS, keys


def test_project_current_from_fixture_config(emu):
    r = project(emu)
    body = ok(r)
    assert r.headers["content-type"] == JSON_CT
    check_client_project_shape(body)
    assert body["id"] == emu.project_id
    config = body["config"]
    assert config["sign_up_enabled"] is True
    assert config["credential_enabled"] is True
    assert config["magic_link_enabled"] is True
    assert config["passkey_enabled"] is False
    assert config["client_team_creation_enabled"] is True
    assert config["client_user_deletion_enabled"] is True
    assert config["allow_user_api_keys"] is True
    assert config["allow_team_api_keys"] is True
    assert config["enabled_oauth_providers"] == [{"id": "github"}, {"id": "google"}]
    assert config["domains"] == []


@pytest.mark.parametrize("access", ["client", "server"])
def test_project_current_is_the_client_shape_for_every_access_type(emu, access):
    body = ok(project(emu, access=access))
    check_client_project_shape(body)
    assert body == ok(project(emu))


def test_project_current_for_admin_is_the_client_shape(emu):
    body = ok(project(emu, access="admin", project_id="internal"))
    check_client_project_shape(body)


def test_project_current_without_key(emu):
    assert ok(project(emu, key=""))["id"] == emu.project_id


def test_project_current_with_hexclave_headers(emu):
    assert ok(project(emu, prefix="x-hexclave"))["id"] == emu.project_id


def test_project_current_needs_auth(emu):
    known_error(project(emu, access=None), 400, "ACCESS_TYPE_REQUIRED")


def test_project_current_rejects_query(emu):
    r = project(emu, params={"extra": "1"})
    assert schema_error(r, "GET", "/api/v1/projects/current") == ["query contains unknown properties: extra"]


def test_project_current_internal(emu):
    body = ok(project(emu, project_id="internal"))
    check_client_project_shape(body)
    assert body["id"] == "internal"
    assert body["display_name"] == "Stack Dashboard"
    config = body["config"]
    assert config["sign_up_enabled"] is True and config["credential_enabled"] is True
    assert config["magic_link_enabled"] is True and config["client_team_creation_enabled"] is True
    assert config["enabled_oauth_providers"] == [{"id": "github"}, {"id": "google"}, {"id": "microsoft"},
                                                 {"id": "spotify"}]


def test_project_current_maps_every_config_field(flipped):
    body = ok(project(flipped))
    check_client_project_shape(body)
    config = body["config"]
    assert config["sign_up_enabled"] is False
    assert config["credential_enabled"] is False
    assert config["magic_link_enabled"] is False
    assert config["passkey_enabled"] is True
    assert config["client_team_creation_enabled"] is False
    assert config["client_user_deletion_enabled"] is False
    assert config["allow_user_api_keys"] is False
    assert config["allow_team_api_keys"] is True
    assert config["enabled_oauth_providers"] == [{"id": "discord"}, {"id": "spotify"}]  # sign-in ones, sorted
    assert config["domains"] == [{"domain": "https://a.example.com", "handler_path": "/handler"},
                                 {"domain": "https://b.example.com", "handler_path": "/auth"}]


def test_project_current_defaults_for_an_empty_config():
    e = start_emulator(config=write_config("show-onboarding"))
    try:
        config = ok(project(e))["config"]
    finally:
        e.stop()
    assert config["sign_up_enabled"] is True
    assert config["credential_enabled"] is False
    assert config["magic_link_enabled"] is False
    assert config["passkey_enabled"] is False
    assert config["client_team_creation_enabled"] is False
    assert config["client_user_deletion_enabled"] is False
    assert config["allow_user_api_keys"] is False and config["allow_team_api_keys"] is False
    assert config["enabled_oauth_providers"] == []
    assert config["domains"] == []


# ---- envelope --------------------------------------------------------------------------------------------------------

def test_json_success_envelope(emu):
    r = project(emu)
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.headers["cache-control"] == "no-store, max-age=0"
    assert r.text == json.dumps(r.json(), separators=(",", ":"), ensure_ascii=False)  # compact


def test_json_is_pretty_for_browsers(emu):
    r = project(emu, headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.text == json.dumps(r.json(), indent=2, ensure_ascii=False)


# ---- /check-feature-support ---------------------------------------------------------------------------------------

# The reference's text is "<feature_name or 'This feature'> is not yet supported. Please reach out to Stack support
# for more information."; the wording after "is not yet supported" is free, the subject is not: only `feature_name`
# names the feature (the SDK sends `name`, which the reference ignores).
FEATURE_RE = r"^{} is not yet supported\b"


@pytest.mark.parametrize("access", [None, "client", "server"])
def test_check_feature_support(emu, access):
    r = call(emu, "POST", "/check-feature-support", access=access, json={"feature_name": "some-feature"})
    assert r.status_code == 200
    assert r.headers["content-type"] == TEXT_CT
    assert re.match(FEATURE_RE.format("some-feature"), r.text), r.text


def test_check_feature_support_without_name(emu):
    r = call(emu, "POST", "/check-feature-support", json={"name": "rsc-handler-signIn"})
    assert r.status_code == 200
    assert re.match(FEATURE_RE.format("This feature"), r.text), r.text


def test_check_feature_support_without_body(emu):
    r = call(emu, "POST", "/check-feature-support", access=None)
    assert r.status_code == 200
    assert re.match(FEATURE_RE.format("This feature"), r.text), r.text


# ---- /check-version -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["not-a-version", "1.0.0", "2.8.0", "99.0.0"])
def test_check_version_outdated_or_invalid(emu, version):
    r = call(emu, "POST", "/check-version", access=None, json={"clientVersion": version})
    body = ok(r)
    assert set(body) == {"upToDate", "error", "severe"}
    assert body["upToDate"] is False and body["severe"] is True
    assert isinstance(body["error"], str) and body["error"]


def test_check_version_requires_client_version(emu):
    r = call(emu, "POST", "/check-version", access=None, json={})
    assert schema_error(r, "POST", "/api/v1/check-version") == ["body.clientVersion must be defined"]


def test_check_version_only_answers_post(emu):
    assert raw(emu, "GET", "/api/v1/check-version").status_code == 405


# ---- /internal/backend-urls -----------------------------------------------------------------------------------------

def test_backend_urls(emu):
    r = raw(emu, "GET", "/api/v1/internal/backend-urls")
    body = ok(r)
    assert set(body) == {"urls"}
    urls = body["urls"]
    assert isinstance(urls, list) and urls and all(isinstance(u, str) for u in urls)
    normalised = {u.rstrip("/") for u in urls}
    assert normalised & {emu.url, f"http://localhost:{emu.port}"}, urls


def test_backend_urls_with_sdk_headers(emu):
    body = ok(call(emu, "GET", "/internal/backend-urls", prefix="x-hexclave"))
    assert body["urls"]


def test_component_versions_lists_every_prebuilt_page(emu):
    versions = ok(raw(emu, "GET", "/api/v1/internal/component-versions"))["versions"]
    assert {"signIn", "signUp", "accountSettings", "mfa", "onboarding"} <= set(versions)
    assert all(isinstance(v["version"], int) and isinstance(v["changelogs"], dict) for v in versions.values())
    assert raw(emu, "POST", "/api/v1/internal/component-versions", json={}).status_code == 405
