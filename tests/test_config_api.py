"""Config through the API: /internal/config, override levels (project, branch, environment), reset-keys, source,
and the write-back of branch changes into hexclave.config.py."""
from __future__ import annotations

import json
import runpy
import sqlite3
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Emulator, start_emulator
from tests.wire import call, known_error, ok, schema_error, text_error

HEADER = "# My app's Hexclave config.\n# Keep this comment.\n"
FILE_CONFIG = {"auth": {"password": {"allowSignIn": True}}, "teams": {"allowClientTeamCreation": True},
               "rbac": {"permissions": {"editor": {"scope": "team", "containedPermissionIds": {"$read_members": True}}}}}


@dataclass
class Project:
    emu: Emulator
    id: str
    sak: str
    ssk: str

    def admin(self, method: str, path: str, **kw):
        return call(self.emu, method, path, access="admin", project_id=self.id, key=self.sak, **kw)

    def server(self, method: str, path: str, **kw):
        return call(self.emu, method, path, access="server", project_id=self.id, key=self.ssk, **kw)

    def config(self) -> dict:
        return json.loads(ok(self.admin("GET", "/internal/config"))["config_string"])

    def override(self, level: str) -> dict:
        return json.loads(ok(self.admin("GET", f"/internal/config/override/{level}"))["config_string"])

    def patch(self, level: str, change: dict, **kw):
        return self.admin("PATCH", f"/internal/config/override/{level}",
                          json={"config_override_string": json.dumps(change)}, **kw)

    def put(self, level: str, config: dict, source: dict | None = None):
        body = {"config_string": json.dumps(config)}
        if source is not None:
            body["source"] = source
        return self.admin("PUT", f"/internal/config/override/{level}", json=body)


def write_file(config: dict) -> Path:
    path = Path(tempfile.mkdtemp(prefix="hexclave-cfg-")) / "hexclave.config.py"
    path.write_text(f"{HEADER}from emulator.config import define_config\n\nconfig = define_config({config!r})\n")
    return path


def key_set(data_dir: Path, project_id: str) -> tuple[str, str]:
    with sqlite3.connect(data_dir / "emulator.sqlite3", timeout=10) as db:
        return db.execute("SELECT super_secret_admin_key, secret_server_key FROM api_key_sets WHERE project_id = ?",
                          (project_id,)).fetchone()


def add_db_project(emu: Emulator, data_dir: Path) -> Project:
    """A project that is not bound to a file (as the admin API creates them), written straight into the store."""
    pid, now = str(uuid.uuid4()), int(time.time() * 1000)
    sak, ssk = "sak_" + uuid.uuid4().hex, "ssk_" + uuid.uuid4().hex
    with sqlite3.connect(data_dir / "emulator.sqlite3", timeout=10) as db:
        row = {"id": pid, "display_name": "db project", "description": "", "created_at_millis": now,
               "config_override": "{}", "is_production_mode": 0, "onboarding_status": "completed"}
        columns = {c[1] for c in db.execute("PRAGMA table_info(projects)")}
        row = {k: v for k, v in row.items() if k in columns}
        db.execute(f"INSERT INTO projects ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})", list(row.values()))
        db.execute("INSERT INTO api_key_sets (id, project_id, description, publishable_client_key, secret_server_key,"
                   " super_secret_admin_key, created_at_millis) VALUES (?, ?, 'k', ?, ?, ?, ?)",
                   (str(uuid.uuid4()), pid, "pck_" + uuid.uuid4().hex, ssk, sak, now))
    return Project(emu, pid, sak, ssk)


@pytest.fixture(scope="module")
def setup():
    path = write_file(FILE_CONFIG)
    data_dir = Path(tempfile.mkdtemp(prefix="hexclave-data-"))
    emu = start_emulator("--data-dir", str(data_dir), config=path, in_memory=False)
    try:
        sak, ssk = key_set(data_dir, emu.project_id)
        yield emu, path, data_dir, Project(emu, emu.project_id, sak, ssk)
    finally:
        emu.stop()


@pytest.fixture
def filep(setup):
    emu, path, _, project = setup
    path.write_text(f"{HEADER}from emulator.config import define_config\n\nconfig = define_config({FILE_CONFIG!r})\n")
    ok(project.put("environment", {}))
    project.config()  # the rewrite above is picked up
    return project, path


@pytest.fixture
def dbp(setup):
    emu, _, data_dir, _ = setup
    return add_db_project(emu, data_dir)


def load(path: Path) -> dict:
    return runpy.run_path(str(path))["config"]


# ---- access -------------------------------------------------------------------------------------------------------

def test_client_and_server_cannot_read_the_config(filep):
    project, _ = filep
    for access, key in (("client", project.emu.pck), ("server", project.ssk)):
        r = call(project.emu, "GET", "/internal/config", access=access, project_id=project.id, key=key)
        known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE",
                    {"actual_access_type": access, "allowed_access_types": ["admin"]})
        r = call(project.emu, "GET", "/internal/config/source", access=access, project_id=project.id, key=key)
        known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE",
                    {"actual_access_type": access, "allowed_access_types": ["admin"]})


def test_server_access_only_for_the_branch_level(filep):
    project, _ = filep
    assert json.loads(ok(project.server("GET", "/internal/config/override/branch"))["config_string"]) == FILE_CONFIG
    for level in ("project", "environment"):
        text_error(project.server("GET", f"/internal/config/override/{level}"), 403)
        text_error(project.server("PATCH", f"/internal/config/override/{level}",
                                  json={"config_override_string": "{}"}), 403)
    r = project.server("POST", "/internal/config/override/branch/reset-keys", json={"keys": []})
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type": "server", "allowed_access_types": ["admin"]})


def test_invalid_level_is_a_schema_error(filep):
    project, _ = filep
    lines = schema_error(project.patch("invalid-level", {}), "PATCH", "/api/v1/internal/config/override/invalid-level")
    assert lines == ["params.level must be one of the following values: project, branch, environment"]
    r = project.admin("POST", "/internal/config/override/project/reset-keys", json={"keys": []})
    assert schema_error(r, "POST", "/api/v1/internal/config/override/project/reset-keys") == [
        "params.level must be one of the following values: branch, environment"]


# ---- validation ---------------------------------------------------------------------------------------------------

def test_validation_errors_are_text_400s(dbp):
    text_error(dbp.patch("environment", {"nonExistentField": "x"}), 400,
               'The key "nonExistentField" is not valid (nested object not found in schema: "nonExistentField").')
    text_error(dbp.patch("environment", {"auth": {"oauth": {"providers": {"invalid": {"type": "invalid-type"}}}}}),
               400, "auth.oauth.providers.invalid.type must be one of the following values: google, github, "
                    "microsoft, spotify, facebook, discord, gitlab, bitbucket, linkedin, apple, x, twitch")
    r = dbp.admin("PATCH", "/internal/config/override/environment", json={"config_override_string": "{ invalid }"})
    text_error(r, 400, "Invalid config JSON")
    r = dbp.admin("PUT", "/internal/config/override/branch",
                  json={"config_string": "not json", "source": {"type": "unlinked"}})
    text_error(r, 400, "Invalid config JSON")
    assert "auth.allowSignUp" in text_error(dbp.patch("branch", {"auth.allowSignUp": "no"}), 400)
    assert "contains a dot" in text_error(dbp.patch("branch", {"teams": {"a.b": True}}), 400)
    # Environment-only fields are refused at the branch level, and accepted at the environment level.
    for change, key in (({"domains.trustedDomains.my-domain": {"baseUrl": "https://a.com"}}, "domains.trustedDomains"),
                        ({"emails.server": {"isShared": False}}, "emails.server"),
                        ({"auth.oauth.providers.google": {"type": "google", "clientSecret": "s"}},
                         "auth.oauth.providers")):
        assert key in text_error(dbp.patch("branch", change), 400)
        ok(dbp.patch("environment", change))
    # `project` settings belong to the project level only.
    assert '"project"' in text_error(dbp.patch("branch", {"project.requirePublishableClientKey": True}), 400)
    ok(dbp.patch("branch", {"auth.oauth.providers.my_provider": {"type": "google", "allowSignIn": True}}))


# ---- levels -------------------------------------------------------------------------------------------------------

def test_levels_merge_in_order_and_stay_independent(dbp):
    assert dbp.override("branch") == {} and dbp.override("environment") == {}
    ok(dbp.patch("branch", {"teams.allowClientTeamCreation": True, "users.allowClientUserDeletion": True}))
    ok(dbp.patch("environment", {"teams.allowClientTeamCreation": False}))
    ok(dbp.patch("project", {"project.requirePublishableClientKey": True}))
    config = dbp.config()
    assert config["teams"]["allowClientTeamCreation"] is False  # environment wins over branch
    assert config["users"]["allowClientUserDeletion"] is True
    assert config["project"]["requirePublishableClientKey"] is True
    assert dbp.override("branch") == {"teams.allowClientTeamCreation": True, "users.allowClientUserDeletion": True}
    assert dbp.override("environment") == {"teams.allowClientTeamCreation": False}
    # reset-keys on the environment lets the branch value through again
    ok(dbp.admin("POST", "/internal/config/override/environment/reset-keys",
                 json={"keys": ["teams.allowClientTeamCreation", "nonExistent.key"]}))
    assert dbp.override("environment") == {}
    assert dbp.config()["teams"]["allowClientTeamCreation"] is True


def test_put_replaces_and_patch_replaces_whole_keys(dbp):
    ok(dbp.patch("environment", {"users.allowClientUserDeletion": True}))
    ok(dbp.put("branch", {"teams.allowClientTeamCreation": True, "teams.createPersonalTeamOnSignUp": True},
               {"type": "unlinked"}))
    ok(dbp.put("branch", {"auth.passkey.allowSignIn": True}, {"type": "unlinked"}))
    config = dbp.config()
    assert config["teams"] == {"allowClientTeamCreation": False, "createPersonalTeamOnSignUp": False}
    assert config["auth"]["passkey"]["allowSignIn"] is True and config["users"]["allowClientUserDeletion"] is True
    ok(dbp.put("environment", {}))
    assert dbp.config()["users"]["allowClientUserDeletion"] is False
    # A top-level key replaces that key and everything under it; null goes back to the default.
    ok(dbp.patch("environment", {"teams.allowClientTeamCreation": True, "teams.createPersonalTeamOnSignUp": True}))
    ok(dbp.patch("environment", {"teams": {"createPersonalTeamOnSignUp": True}}))
    assert dbp.override("environment") == {"teams": {"createPersonalTeamOnSignUp": True}}
    assert dbp.config()["teams"] == {"createPersonalTeamOnSignUp": True, "allowClientTeamCreation": False}
    ok(dbp.patch("environment", {"teams.createPersonalTeamOnSignUp": None}))
    assert dbp.config()["teams"]["createPersonalTeamOnSignUp"] is False


def test_dot_notation_into_a_missing_entry_is_dropped(dbp):
    ok(dbp.patch("environment", {"domains.trustedDomains.2.baseUrl": "https://example.com"}))
    assert dbp.config()["domains"]["trustedDomains"] == {}
    ok(dbp.patch("environment", {"domains": {"trustedDomains": {"3": {"baseUrl": "http://n.com", "handlerPath": "/n"}}},
                                 "domains.trustedDomains.4.baseUrl": "http://dotted.example.com"}))
    assert dbp.config()["domains"]["trustedDomains"] == {"3": {"baseUrl": "http://n.com", "handlerPath": "/n"}}
    ok(dbp.patch("environment", {"domains.trustedDomains.3.handlerPath": "/changed"}))
    assert dbp.config()["domains"]["trustedDomains"]["3"] == {"baseUrl": "http://n.com", "handlerPath": "/changed"}


def test_reset_keys_nested_and_parent(dbp):
    ok(dbp.patch("environment", {"auth": {"oauth": {"providers": {"google": {"type": "google", "clientId": "id"}}}},
                                 "teams.allowClientTeamCreation": True, "teams.createPersonalTeamOnSignUp": True,
                                 "users.allowClientUserDeletion": True}))
    assert "google" in dbp.config()["auth"]["oauth"]["providers"]
    ok(dbp.admin("POST", "/internal/config/override/environment/reset-keys", json={"keys": ["auth.oauth.providers.google"]}))
    ok(dbp.admin("POST", "/internal/config/override/environment/reset-keys", json={"keys": ["teams"]}))
    assert dbp.override("environment") == {"users.allowClientUserDeletion": True}
    assert dbp.config()["auth"]["oauth"]["providers"] == {}


def test_projects_are_isolated(filep, dbp):
    project, _ = filep
    ok(dbp.patch("branch", {"teams.allowClientTeamCreation": False, "users.allowClientUserDeletion": True}))
    assert project.config()["teams"]["allowClientTeamCreation"] is True
    assert project.config()["users"]["allowClientUserDeletion"] is False
    assert project.override("environment") == {}


# ---- source -------------------------------------------------------------------------------------------------------

GITHUB = {"type": "pushed-from-github", "owner": "组织", "repo": "r", "branch": "feature/x", "commit_hash": "a" * 100,
          "config_file_path": "stack.config.ts"}


def test_branch_source(dbp):
    assert ok(dbp.admin("GET", "/internal/config/source")) == {"source": {"type": "unlinked"}}
    assert "source is required" in text_error(dbp.put("branch", {"teams.allowClientTeamCreation": True}), 400)
    ok(dbp.put("environment", {"teams.allowClientTeamCreation": True}))  # not needed below the branch
    ok(dbp.put("branch", {"teams.allowClientTeamCreation": True}, GITHUB))
    assert ok(dbp.admin("GET", "/internal/config/source")) == {"source": GITHUB}
    ok(dbp.patch("branch", {"users.allowClientUserDeletion": True}))  # PATCH keeps the source
    assert ok(dbp.admin("GET", "/internal/config/source")) == {"source": GITHUB}
    ok(dbp.put("branch", {}, {"type": "pushed-from-unknown"}))
    assert ok(dbp.admin("GET", "/internal/config/source")) == {"source": {"type": "pushed-from-unknown"}}
    assert ok(dbp.admin("DELETE", "/internal/config/source")) == {"success": True}
    assert ok(dbp.admin("DELETE", "/internal/config/source")) == {"success": True}
    assert ok(dbp.admin("GET", "/internal/config/source")) == {"source": {"type": "unlinked"}}
    for bad in ({"type": "invalid-type"}, {"type": "pushed-from-github", "owner": "o", "repo": "r"}):
        r = dbp.put("branch", {}, bad)
        assert r.status_code == 400 and r.json()["code"] == "SCHEMA_ERROR", r.text


# ---- config-file projects: the branch level is the file ----------------------------------------------------------

def test_branch_patch_is_written_back_into_the_file(filep):
    project, path = filep
    assert project.override("branch") == FILE_CONFIG
    r = call(project.emu, "GET", "/projects/current", access="client", project_id=project.id)
    assert ok(r)["config"]["client_user_deletion_enabled"] is False
    ok(project.patch("branch", {"users.allowClientUserDeletion": True, "teams.allowClientTeamCreation": None,
                                "auth.otp.allowSignIn": True}))
    text = path.read_text()
    assert text.startswith(HEADER) and "from emulator.config import define_config\n" in text
    assert "config = define_config({\n" in text and "\n    \"users\": " in text  # one key a line, indented
    written = load(path)
    assert written["users"] == {"allowClientUserDeletion": True}
    assert written["auth"] == {"password": {"allowSignIn": True}, "otp": {"allowSignIn": True}}
    assert "allowClientTeamCreation" not in written["teams"]
    assert written["rbac"] == FILE_CONFIG["rbac"]
    r = call(project.emu, "GET", "/projects/current", access="client", project_id=project.id)
    config = ok(r)["config"]
    assert config["client_user_deletion_enabled"] is True and config["magic_link_enabled"] is True
    assert config["client_team_creation_enabled"] is False
    assert project.override("branch") == written
    # A hand edit afterwards still hot-reloads.
    time.sleep(0.02)
    path.write_text(path.read_text().replace('"allowClientUserDeletion": True', '"allowClientUserDeletion": False'))
    assert project.config()["users"]["allowClientUserDeletion"] is False


def test_branch_put_and_reset_keys_rewrite_the_file(filep):
    project, path = filep
    ok(project.put("branch", {"teams.createPersonalTeamOnSignUp": True, "apiKeys.enabled.user": True},
                   {"type": "pushed-from-unknown"}))
    assert load(path) == {"teams": {"createPersonalTeamOnSignUp": True}, "apiKeys": {"enabled": {"user": True}}}
    ok(project.admin("POST", "/internal/config/override/branch/reset-keys", json={"keys": ["teams"]}))
    assert load(path) == {"apiKeys": {"enabled": {"user": True}}}
    config = project.config()
    assert config["teams"]["createPersonalTeamOnSignUp"] is False and config["apiKeys"]["enabled"]["user"] is True
    assert path.read_text().startswith(HEADER)


def test_environment_settings_stay_out_of_the_file(filep):
    project, path = filep
    before = path.read_text()
    ok(project.patch("environment", {"domains": {"trustedDomains": {"prod": {"baseUrl": "https://app.example.com",
                                                                              "handlerPath": "/handler"}}},
                                     "payments.testMode": False, "auth.oauth.providers.github": {
                                         "type": "github", "clientId": "id", "clientSecret": "secret"}}))
    assert path.read_text() == before
    config = project.config()
    assert config["domains"]["trustedDomains"]["prod"]["baseUrl"] == "https://app.example.com"
    assert config["payments"]["testMode"] is False
    assert config["auth"]["oauth"]["providers"]["github"]["clientSecret"] == "secret"
    # Kept in the store: a later branch write (which rewrites the file) leaves them where they are.
    ok(project.patch("branch", {"users.allowClientUserDeletion": True}))
    assert "secret" not in path.read_text() and "app.example.com" not in path.read_text()
    assert project.config()["domains"]["trustedDomains"]["prod"]["baseUrl"] == "https://app.example.com"


def test_broken_file_is_not_overwritten(filep):
    project, path = filep
    time.sleep(0.02)
    path.write_text("config = {\n")
    assert "syntax error" in text_error(project.patch("branch", {"users.allowClientUserDeletion": True}), 400)
    assert path.read_text() == "config = {\n"
