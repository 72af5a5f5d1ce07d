"""POST /api/v1/emulator/reset, snapshots (API and CLI), export and `start --import/--export-on-exit`, and the
test-kit projects (/api/v1/emulator/projects)."""
from __future__ import annotations

import smtplib
import sqlite3
import subprocess
import sys
import uuid

import httpx
import pytest

from emulator.domain.projects.testkit import PRESERVED_TABLES
from support import INTERNAL_SSK, REPO, start_emulator


@pytest.fixture(scope="module")
def emu():
    e = start_emulator()  # its own emulator: resets here must not touch other modules' data
    yield e
    e.stop()


def server(emu, project_id: str | None = None, key: str | None = None) -> httpx.Client:
    if project_id is None:
        return emu.server()
    return httpx.Client(base_url=emu.api, timeout=10, headers={
        "x-stack-access-type": "server", "x-stack-project-id": project_id, "x-stack-secret-server-key": key})


def add_user(client: httpx.Client) -> str:
    r = client.post("/users", json={"primary_email": f"u-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-123456",
                                    "primary_email_auth_enabled": True})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def user_count(client: httpx.Client) -> int:
    r = client.get("/users")
    assert r.status_code == 200, r.text
    return len(r.json()["items"])


def new_project(emu) -> dict:
    r = httpx.post(emu.api + "/emulator/projects", json={"display_name": "Throwaway"})
    assert r.status_code == 201, r.text
    return r.json()


def send_smtp(emu) -> None:
    with smtplib.SMTP("127.0.0.1", emu.smtp_port, timeout=10) as smtp:
        smtp.sendmail("app@example.com", ["someone@example.com"], b"Subject: hi\r\n\r\nbody\r\n")


def emulator_call(emu, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, emu.api + "/emulator" + path, timeout=10, **kw)


def test_test_kit_projects_are_isolated_and_carry_their_environment(emu):
    project = new_project(emu)
    assert project["display_name"] == "Throwaway"
    assert project["env"]["HEXCLAVE_PROJECT_ID"] == project["id"]
    assert project["env"]["HEXCLAVE_SECRET_SERVER_KEY"] == project["secret_server_key"]
    assert project["env"]["HEXCLAVE_EMULATOR_URL"] == emu.url
    own = server(emu, project["id"], project["secret_server_key"])
    add_user(own)
    assert user_count(own) == 1
    # The project has the served config file's config (the fixture enables client team creation, for one).
    config = own.get("/projects/current", headers={"x-stack-access-type": "client",
                                                   "x-stack-publishable-client-key": project["publishable_client_key"]})
    assert config.json()["config"]["client_team_creation_enabled"] is True
    # Another project's key does not open it.
    assert server(emu, project["id"], emu.ssk).get("/users").status_code == 401
    assert emulator_call(emu, "DELETE", f"/projects/{project['id']}").json() == {"success": True}
    assert own.get("/users").status_code in (400, 401, 404)
    assert emulator_call(emu, "DELETE", f"/projects/{project['id']}").status_code == 404
    assert emulator_call(emu, "DELETE", "/projects/internal").status_code == 400
    assert emulator_call(emu, "DELETE", f"/projects/{emu.project_id}").status_code == 400


def test_reset_of_everything_keeps_config_file_projects_and_internal_with_their_keys(emu):
    add_user(emu.server())
    team = emu.server().post("/teams", json={"display_name": "T"})
    assert team.status_code == 201, team.text
    send_smtp(emu)
    other = new_project(emu)
    add_user(server(emu, other["id"], other["secret_server_key"]))
    assert emulator_call(emu, "GET", "/inbox/messages").json()["items"]

    assert emulator_call(emu, "POST", "/reset").json() == {"success": True}

    assert user_count(emu.server()) == 0
    assert emu.server().get("/teams").json()["items"] == []
    assert emulator_call(emu, "GET", "/inbox/messages").json()["items"] == []
    # Projects made at run time are gone; the config file's project and its keys stay.
    assert server(emu, other["id"], other["secret_server_key"]).get("/users").status_code != 200
    assert httpx.get(emu.api + "/emulator/env").json()["HEXCLAVE_PROJECT_ID"] == emu.project_id
    internal = server(emu, "internal", INTERNAL_SSK)
    emails = [u["primary_email"] for u in internal.get("/users").json()["items"]]
    assert emails == ["local-emulator@stack-auth.com"]  # the official emulator's seeded owner comes back


def test_reset_covers_every_data_table(emu, tmp_path):
    """Generic over the models: after a reset every table except the preserved ones is empty."""
    add_user(emu.server())
    send_smtp(emu)
    emulator_call(emu, "POST", "/reset")
    path = tmp_path / "after-reset.sqlite3"
    path.write_bytes(emulator_call(emu, "GET", "/export").content)
    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        filled = {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    # the seeded internal owner keeps its user, team and the team's free dashboard plan
    internal_owner_tables = {"users", "teams", "team_members", "contact_channels", "team_permission_grants",
                             "subscriptions"}
    assert {t for t, n in filled.items() if n} <= PRESERVED_TABLES | internal_owner_tables
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM users WHERE project_id != 'internal'").fetchone()[0] == 0


def test_signed_in_user_reads_follow_restores_and_resets(emu):
    """GET /users/me (served from a render kept until the next write) after a snapshot restore and a reset."""
    client = {"x-stack-access-type": "client", "x-stack-project-id": emu.project_id,
              "x-stack-publishable-client-key": emu.pck}
    r = httpx.post(emu.api + "/auth/password/sign-up", headers=client, timeout=10,
                   json={"email": f"me-{uuid.uuid4().hex[:8]}@example.com", "password": "pw-123456"})
    assert r.status_code == 200, r.text
    signed_in = {**client, "x-stack-access-token": r.json()["access_token"]}

    def name():
        r = httpx.get(emu.api + "/users/me", headers=signed_in, timeout=10)
        return r.json()["display_name"] if r.status_code == 200 else r.headers.get("x-stack-known-error")

    assert name() is None
    assert emulator_call(emu, "POST", "/snapshots", json={"name": "before-rename"}).status_code == 201
    assert httpx.patch(emu.api + "/users/me", headers=signed_in, json={"display_name": "Renamed"}).status_code == 200
    assert name() == "Renamed"
    assert emulator_call(emu, "POST", "/snapshots/before-rename/restore").json() == {"success": True}
    assert name() is None
    assert emulator_call(emu, "POST", "/reset").json() == {"success": True}
    assert name() == "CANNOT_GET_OWN_USER_WITHOUT_USER"


def test_reset_of_one_project_leaves_the_others(emu):
    a, b = new_project(emu), new_project(emu)
    client_a, client_b = server(emu, a["id"], a["secret_server_key"]), server(emu, b["id"], b["secret_server_key"])
    add_user(client_a), add_user(client_b), add_user(emu.server())
    r = emulator_call(emu, "POST", "/reset", json={"project_id": a["id"]})
    assert r.json() == {"success": True}
    assert (user_count(client_a), user_count(client_b)) == (0, 1)
    assert user_count(emu.server()) >= 1
    assert user_count(client_a) == 0 and client_a.get("/users").status_code == 200  # keys still work
    assert emulator_call(emu, "POST", "/reset", json={"project_id": "nope"}).status_code == 404
    bad = emulator_call(emu, "POST", "/reset", json={"project": 1})
    assert bad.status_code == 400 and "project_id" in bad.text


def test_snapshots_save_restore_list_delete(emu):
    emulator_call(emu, "POST", "/reset")
    first = add_user(emu.server())
    saved = emulator_call(emu, "POST", "/snapshots", json={"name": "one-user"})
    assert saved.status_code == 201 and saved.json()["name"] == "one-user" and saved.json()["size_bytes"] > 0
    add_user(emu.server())
    assert user_count(emu.server()) == 2
    assert emulator_call(emu, "POST", "/snapshots/one-user/restore").json() == {"success": True}
    users = emu.server().get("/users").json()["items"]
    assert [u["id"] for u in users] == [first]
    # Restoring twice gives the same state again; the snapshot is not used up.
    add_user(emu.server())
    emulator_call(emu, "POST", "/snapshots/one-user/restore")
    assert user_count(emu.server()) == 1
    names = [s["name"] for s in emulator_call(emu, "GET", "/snapshots").json()["items"]]
    assert "one-user" in names
    assert emulator_call(emu, "DELETE", "/snapshots/one-user").json() == {"success": True}
    assert emulator_call(emu, "POST", "/snapshots/one-user/restore").status_code == 404
    assert emulator_call(emu, "DELETE", "/snapshots/one-user").status_code == 404
    for body in ({"name": "../etc"}, {"name": ""}, {}, {"name": 3}):
        r = emulator_call(emu, "POST", "/snapshots", json=body)
        assert r.status_code == 400 and "snapshot name" in r.text, body
    assert emulator_call(emu, "POST", "/snapshots", content=b"[1]",
                         headers={"content-type": "application/json"}).status_code == 400


def test_restore_keeps_the_clock_moving_forward(emu):
    emulator_call(emu, "POST", "/snapshots", json={"name": "before-advance"})
    advanced = emulator_call(emu, "POST", "/clock/advance", json={"duration": "30d"}).json()
    emulator_call(emu, "POST", "/snapshots/before-advance/restore")
    assert emulator_call(emu, "GET", "/clock").json()["offset_millis"] == advanced["offset_millis"]


def cli(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=60, **kw)


def test_snapshot_commands_and_export(emu, tmp_path):
    emulator_call(emu, "POST", "/reset")
    add_user(emu.server())
    assert cli("snapshot", "save", "cli-snap", "--url", emu.url).stdout.startswith("saved snapshot cli-snap")
    listed = cli("snapshot", "list", "--url", emu.url).stdout
    assert any(line.split("\t")[0] == "cli-snap" for line in listed.splitlines())
    add_user(emu.server())
    assert cli("snapshot", "restore", "cli-snap", "--url", emu.url).returncode == 0
    assert user_count(emu.server()) == 1
    missing = cli("snapshot", "restore", "nope", "--url", emu.url)
    assert missing.returncode == 1 and missing.stderr.strip() == "Error: No snapshot named 'nope'"
    assert cli("reset", "--url", emu.url).stdout.strip() == "reset every project"
    assert user_count(emu.server()) == 0
    add_user(emu.server())
    exported = tmp_path / "state.sqlite3"
    assert cli("export", str(exported), "--url", emu.url).returncode == 0
    with sqlite3.connect(exported) as db:
        assert db.execute("SELECT count(*) FROM users WHERE project_id = ?", (emu.project_id,)).fetchone()[0] == 1


def test_import_and_export_on_exit(tmp_path):
    config = tmp_path / "hexclave.config.py"
    config.write_text('config = {"auth": {"password": {"allowSignIn": True}}}\n')
    first = start_emulator("--export-on-exit", str(tmp_path / "out" / "state.sqlite3"), config=config)
    try:
        user = add_user(first.server())
        project_id, key = first.project_id, first.ssk
    finally:
        first.stop()
    assert (tmp_path / "out" / "state.sqlite3").is_file()
    second = start_emulator("--import", str(tmp_path / "out" / "state.sqlite3"), config=config)
    try:
        assert (second.project_id, second.ssk) == (project_id, key)  # same config file: same project and keys
        assert [u["id"] for u in second.server().get("/users").json()["items"]] == [user]
    finally:
        second.stop()
    (tmp_path / "junk").write_text("not a database")
    done = cli("start", "--in-memory", "--port", "0", "--smtp-port", "0", "--import", str(tmp_path / "junk"))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("import error: not a hexclave-emulator data file")


def test_snapshots_of_a_data_dir_store_outlive_a_restart(tmp_path):
    data = tmp_path / "data"
    first = start_emulator("--data-dir", str(data), in_memory=False)
    try:
        add_user(first.server())
        assert emulator_call(first, "POST", "/snapshots", json={"name": "kept"}).status_code == 201
        add_user(first.server())
    finally:
        first.stop()
    assert (data / "snapshots" / "kept.sqlite3").is_file()
    second = start_emulator("--data-dir", str(data), in_memory=False)
    try:
        assert user_count(second.server()) == 2
        assert [s["name"] for s in emulator_call(second, "GET", "/snapshots").json()["items"]] == ["kept"]
        assert emulator_call(second, "POST", "/snapshots/kept/restore").status_code == 200
        assert user_count(second.server()) == 1
        add_user(second.server())  # the store still takes writes after a restore into the WAL file
        assert user_count(second.server()) == 2
    finally:
        second.stop()
