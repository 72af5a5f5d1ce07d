"""/team-permission-definitions and /project-permission-definitions: CRUD through the config levels, grants
following renames and deletes, and a config-file project's definitions written into its file."""
from __future__ import annotations

import runpy

import pytest

# `setup` is test_config_api's module fixture: an emulator on a config file, with its admin keys.
from tests.test_config_api import HEADER, Project, add_db_project, setup  # noqa: F401
from tests.wire import call, known_error, ok, schema_error

SYSTEM = [
    {"contained_permission_ids": [], "description": "Delete the team", "id": "$delete_team"},
    {"contained_permission_ids": [], "description": "Invite other users to the team", "id": "$invite_members"},
    {"contained_permission_ids": [], "description": "Create and manage API keys for the team", "id": "$manage_api_keys"},
    {"contained_permission_ids": [], "description": "Read and list the other members of the team", "id": "$read_members"},
    {"contained_permission_ids": [], "description": "Remove other members from the team", "id": "$remove_members"},
    {"contained_permission_ids": [], "description": "Update the team information", "id": "$update_team"},
]
TEAM_ADMIN = {"contained_permission_ids": ["$delete_team", "$invite_members", "$manage_api_keys", "$read_members",
                                           "$remove_members", "$update_team"],
              "description": "Default permission for team admins", "id": "team_admin"}
TEAM_MEMBER = {"contained_permission_ids": ["$invite_members", "$read_members"],
               "description": "Default permission for team members", "id": "team_member"}


@pytest.fixture
def dbp(setup):
    emu, _, data_dir, _ = setup
    return add_db_project(emu, data_dir)


def items(project: Project, scope: str) -> list[dict]:
    body = ok(project.admin("GET", f"/{scope}-permission-definitions"))
    assert body["is_paginated"] is False
    return body["items"]


def new_team(project: Project, user_id: str) -> str:
    r = project.server("POST", "/teams", json={"display_name": "t", "creator_user_id": user_id})
    return ok(r, 201)["id"]


def team_perms(project: Project, team: str, user: str, recursive: bool = False) -> list[str]:
    r = project.server("GET", "/team-permissions", params={"team_id": team, "user_id": user,
                                                          "recursive": str(recursive).lower()})
    return [p["id"] for p in ok(r)["items"]]


def test_lists_system_and_default_permissions(dbp):
    assert items(dbp, "team") == [*SYSTEM, TEAM_ADMIN, TEAM_MEMBER]
    assert items(dbp, "project") == []


def test_create_update_delete_team_permission(dbp):
    r = dbp.admin("POST", "/team-permission-definitions", json={"id": "p1"})
    assert ok(r, 201) == {"contained_permission_ids": [], "id": "p1"}
    r = dbp.admin("POST", "/team-permission-definitions",
                  json={"id": "p2", "description": "Two", "contained_permission_ids": ["p1", "$read_members"]})
    assert ok(r, 201) == {"contained_permission_ids": ["$read_members", "p1"], "description": "Two", "id": "p2"}
    r = dbp.admin("PATCH", "/team-permission-definitions/p2", json={"id": "p3", "contained_permission_ids": ["p1", "$update_team"]})
    assert ok(r) == {"contained_permission_ids": ["$update_team", "p1"], "description": "Two", "id": "p3"}
    assert [i["id"] for i in items(dbp, "team")] == [s["id"] for s in SYSTEM] + ["p1", "p3", "team_admin", "team_member"]
    assert ok(dbp.admin("DELETE", "/team-permission-definitions/p1")) == {"success": True}
    assert items(dbp, "team")[6] == {"contained_permission_ids": ["$update_team"], "description": "Two", "id": "p3"}
    # the list answers what the rendered config holds
    assert "p3" in dbp.config()["rbac"]["permissions"] and "p1" not in dbp.config()["rbac"]["permissions"]


def test_errors(dbp):
    ok(dbp.admin("POST", "/team-permission-definitions", json={"id": "dup"}), 201)
    ok(dbp.admin("POST", "/team-permission-definitions", json={"id": "other"}), 201)
    known_error(dbp.admin("POST", "/team-permission-definitions", json={"id": "dup"}), 400,
                "PERMISSION_ID_ALREADY_EXISTS", {"permission_id": "dup"})
    known_error(dbp.admin("PATCH", "/team-permission-definitions/dup", json={"id": "other"}), 400,
                "PERMISSION_ID_ALREADY_EXISTS", {"permission_id": "other"})
    known_error(dbp.admin("POST", "/team-permission-definitions", json={"id": "p9", "contained_permission_ids": ["nope"]}),
                400, "CONTAINED_PERMISSION_NOT_FOUND", {"permission_id": "nope"})
    ok(dbp.admin("POST", "/project-permission-definitions", json={"id": "proj"}), 201)
    known_error(dbp.admin("POST", "/team-permission-definitions", json={"id": "p9", "contained_permission_ids": ["proj"]}),
                400, "CONTAINED_PERMISSION_NOT_FOUND", {"permission_id": "proj"})
    known_error(dbp.admin("PATCH", "/project-permission-definitions/proj", json={"contained_permission_ids": ["dup"]}),
                400, "CONTAINED_PERMISSION_NOT_FOUND", {"permission_id": "dup"})
    for method in ("PATCH", "DELETE"):
        kw = {"json": {}} if method == "PATCH" else {}
        known_error(dbp.admin(method, "/team-permission-definitions/missing", **kw), 404, "PERMISSION_NOT_FOUND",
                    {"permission_id": "missing"})
        known_error(dbp.admin(method, "/team-permission-definitions/proj", **kw), 404, "PERMISSION_NOT_FOUND",
                    {"permission_id": "proj"})
    r = dbp.admin("POST", "/team-permission-definitions", json={"id": "Bad-Id"})
    assert schema_error(r, "POST", "/api/v1/team-permission-definitions")[0].startswith("body.id")
    r = call(dbp.emu, "GET", "/team-permission-definitions", access="server", project_id=dbp.id, key=dbp.ssk)
    known_error(r, 401, "INSUFFICIENT_ACCESS_TYPE", {"actual_access_type": "server", "allowed_access_types": ["admin"]})


def test_rename_moves_grants_and_delete_removes_them(dbp):
    user = ok(dbp.server("POST", "/users", json={}), 201)["id"]
    team = new_team(dbp, user)
    ok(dbp.admin("POST", "/team-permission-definitions", json={"id": "editor"}), 201)
    ok(dbp.admin("POST", "/team-permission-definitions", json={"id": "lead", "contained_permission_ids": ["editor"]}), 201)
    ok(dbp.server("POST", f"/team-permissions/{team}/{user}/editor", json={}), 201)
    ok(dbp.admin("PATCH", "/team-permission-definitions/editor", json={"id": "writer"}))
    assert team_perms(dbp, team, user) == ["team_admin", "writer"]
    assert [i["contained_permission_ids"] for i in items(dbp, "team") if i["id"] == "lead"] == [["writer"]]
    ok(dbp.admin("DELETE", "/team-permission-definitions/writer"))
    assert team_perms(dbp, team, user) == ["team_admin"]
    assert [i["contained_permission_ids"] for i in items(dbp, "team") if i["id"] == "lead"] == [[]]
    # project scope
    ok(dbp.admin("POST", "/project-permission-definitions", json={"id": "reports", "description": "R"}), 201)
    ok(dbp.server("POST", f"/project-permissions/{user}/reports", json={}), 201)
    ok(dbp.admin("PATCH", "/project-permission-definitions/reports", json={"id": "read_reports"}))
    r = dbp.server("GET", "/project-permissions", params={"user_id": user})
    assert [p["id"] for p in ok(r)["items"]] == ["read_reports"]
    assert items(dbp, "project") == [{"contained_permission_ids": [], "description": "R", "id": "read_reports"}]
    ok(dbp.admin("DELETE", "/project-permission-definitions/read_reports"))
    assert ok(dbp.server("GET", "/project-permissions", params={"user_id": user}))["items"] == []


def test_deleting_a_default_role_removes_it_from_the_defaults(dbp):
    ok(dbp.admin("DELETE", "/team-permission-definitions/team_admin"))
    assert "team_admin" not in dbp.config()["rbac"]["defaultPermissions"]["teamCreator"]
    user = ok(dbp.server("POST", "/users", json={}), 201)["id"]
    assert team_perms(dbp, new_team(dbp, user), user) == []
    assert items(dbp, "team") == [*SYSTEM, TEAM_MEMBER]


def test_config_file_project_definitions_go_into_the_file(setup):
    _, path, _, project = setup
    ok(project.admin("POST", "/team-permission-definitions",
                     json={"id": "moderator", "description": "Mods", "contained_permission_ids": ["editor"]}), 201)
    ok(project.admin("PATCH", "/team-permission-definitions/editor", json={"id": "writer"}))
    ok(project.admin("DELETE", "/team-permission-definitions/team_member"))  # a built-in default, not in the file
    text = path.read_text()
    assert text.startswith(HEADER)
    written = runpy.run_path(str(path))["config"]
    perms = written["rbac"]["permissions"]
    assert perms["moderator"] == {"description": "Mods", "scope": "team", "containedPermissionIds": {"writer": True}}
    assert perms["writer"] == {"scope": "team", "containedPermissionIds": {"$read_members": True}}
    assert "editor" not in perms and perms["team_member"] is None
    assert project.override("environment") == {}
    ids = [i["id"] for i in items(project, "team")]
    assert "team_member" not in ids and {"moderator", "writer", "team_admin"} <= set(ids)
    # The developer's next edit of the file wins, as always.
    path.write_text(text.replace('"Mods"', '"Moderators"'))
    assert [i["description"] for i in items(project, "team") if i["id"] == "moderator"] == ["Moderators"]
