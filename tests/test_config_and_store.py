"""hexclave.config.py loading and hot reload; the SQLite store across restarts."""
import sqlite3

import pytest

from support import start_emulator, wait_for

GOOD = 'config = {"auth": {"allowSignUp": True, "password": {"allowSignIn": True}}}\n'


def sign_up_enabled(emu) -> bool:
    with emu.client() as c:
        return c.get("/projects/current").json()["config"]["sign_up_enabled"]


@pytest.fixture
def config_emu(tmp_path):
    path = tmp_path / "hexclave.config.py"
    path.write_text(GOOD)
    emu = start_emulator(config=path)
    yield emu, path
    emu.stop()


def test_edit_applies_on_next_request_without_restart(config_emu):
    emu, path = config_emu
    assert sign_up_enabled(emu) is True
    path.write_text(GOOD.replace('"allowSignUp": True', '"allowSignUp": False'))
    assert sign_up_enabled(emu) is False
    with emu.client() as c:
        r = c.post("/auth/password/sign-up", json={"email": "x@example.com", "password": "password123"})
    assert r.json()["code"] == "SIGN_UP_NOT_ENABLED"


@pytest.mark.parametrize("broken, expected", [
    ('config = {"auth": {"allowSignUp": False,\n', "syntax error"),
    ('x = 1\nraise RuntimeError("boom")\n', ":2: RuntimeError: boom"),
    ('config = {"auth": {"allowSignUp": "no"}}\n', "auth.allowSignUp: expected a boolean"),
    ('config = {"auth": {"password": {"allowSignin": True}}}\n', "auth.password.allowSignin: unknown key"),
    ('config = ["not", "a", "dict"]\n', "expected a dict"),
    ('cfg = {}\n', "must define `config`"),
])
def test_broken_edit_keeps_last_good_config_and_says_why(config_emu, broken, expected):
    emu, path = config_emu
    path.write_text(GOOD.replace('"allowSignUp": True', '"allowSignUp": False'))
    assert sign_up_enabled(emu) is False
    path.write_text(broken)
    assert sign_up_enabled(emu) is False  # still the last good config
    assert wait_for(lambda: any(expected in line and str(path) in line for line in emu.output)), "".join(emu.output)
    assert emu.proc.poll() is None
    path.write_text(GOOD)  # fixing the file recovers by itself
    assert sign_up_enabled(emu) is True


def test_watcher_reports_a_broken_save_without_any_request(config_emu):
    emu, path = config_emu
    path.write_text("config = {\n")
    assert wait_for(lambda: any("config error" in line and "syntax error" in line for line in emu.output))


def test_show_onboarding_is_an_empty_config(tmp_path):
    path = tmp_path / "hexclave.config.py"
    path.write_text('config = "show-onboarding"\n')
    emu = start_emulator(config=path)
    try:
        with emu.client() as c:
            cfg = c.get("/projects/current").json()["config"]
        assert cfg["sign_up_enabled"] is True and cfg["credential_enabled"] is False
    finally:
        emu.stop()


def test_broken_config_at_start_is_a_clear_error(tmp_path):
    path = tmp_path / "hexclave.config.py"
    path.write_text('config = {"teams": {"allowClientTeamCreation": 1}}\n')
    with pytest.raises(RuntimeError) as info:
        start_emulator(config=path, timeout=10)
    assert "teams.allowClientTeamCreation: expected a boolean" in str(info.value)


def test_data_survives_restart_with_stable_project_and_keys(tmp_path):
    path = tmp_path / "hexclave.config.py"
    path.write_text(GOOD)
    data = tmp_path / "data"
    first = start_emulator("--data-dir", str(data), config=path, in_memory=False)
    try:
        with first.client() as c:
            tokens = c.post("/auth/password/sign-up", json={"email": "keep@example.com", "password": "password123"}).json()
    finally:
        first.stop()
    second = start_emulator("--data-dir", str(data), config=path, in_memory=False)
    try:
        assert (second.project_id, second.pck, second.ssk) == (first.project_id, first.pck, first.ssk)
        with second.client(access_token=tokens["access_token"]) as c:  # same signing secret: old tokens still work
            assert c.get("/users/me").json()["primary_email"] == "keep@example.com"
        with second.client() as c:
            r = c.post("/auth/password/sign-in", json={"email": "keep@example.com", "password": "password123"})
            assert r.status_code == 200
    finally:
        second.stop()


def test_newer_data_file_is_refused_clearly(tmp_path):
    data = tmp_path / "data"
    first = start_emulator("--data-dir", str(data), in_memory=False)
    first.stop()
    with sqlite3.connect(data / "emulator.sqlite3") as db:
        db.execute("UPDATE meta SET value = '999' WHERE key = 'schema_version'")
    with pytest.raises(RuntimeError) as info:
        start_emulator("--data-dir", str(data), in_memory=False, timeout=10)
    assert "schema version 999" in str(info.value)


def token_lifetime(env: dict) -> int:
    import jwt
    emu = start_emulator(env=env)
    try:
        with emu.client() as c:
            token = c.post("/auth/anonymous/sign-up").json()["access_token"]
        claims = jwt.decode(token, options={"verify_signature": False})
        return claims["exp"] - claims["iat"]
    finally:
        emu.stop()


def test_hexclave_env_vars_win_over_stack_ones():
    assert token_lifetime({"STACK_ACCESS_TOKEN_EXPIRATION_TIME": "100",
                           "HEXCLAVE_ACCESS_TOKEN_EXPIRATION_TIME": "2min"}) == 120
    assert token_lifetime({"STACK_ACCESS_TOKEN_EXPIRATION_TIME": "100"}) == 100


def _schema_of(conn: sqlite3.Connection) -> list[tuple]:
    """Every table and index with its columns, as SQLite reports them (independent of how the DDL was written)."""
    objects = conn.execute("SELECT type, name, tbl_name FROM sqlite_master ORDER BY name").fetchall()
    out = list(objects)
    for type_, name, _table in objects:
        if type_ == "table":
            out += [(name, *row) for row in conn.execute(f'PRAGMA table_xinfo("{name}")')]
            out += [(name, *row) for row in conn.execute(f'PRAGMA foreign_key_list("{name}")')]
        elif type_ == "index":
            out += [(name, *row) for row in conn.execute(f'PRAGMA index_xinfo("{name}")')]
            out += [(name, *row[1:]) for row in conn.execute(f'PRAGMA index_list("{_table}")') if row[1] == name]
    return out


def test_prebuilt_schema_is_the_models_schema():
    """A new store is made from emulator/store/schema.sql; it must be current and equal to what create_all makes."""
    from sqlalchemy import create_engine

    from emulator.store import schema
    from emulator.store.models import Base

    statements = schema.prebuilt_statements()
    assert statements is not None, "emulator/store/schema.sql is out of date: run `python -m emulator.store.schema`"
    prebuilt = sqlite3.connect(":memory:")
    for statement in statements:
        prebuilt.execute(statement)
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        Base.metadata.create_all(conn, checkfirst=False)
        compiled = _schema_of(conn.connection.driver_connection)
    assert _schema_of(prebuilt) == compiled
