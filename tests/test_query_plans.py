"""The statements of the hot auth paths find their rows through an index, never by reading a project's every row:
such a scan costs nothing in a small test and grows with every user (sign-up and sign-in once read every contact
channel of the project, because `used_for_auth IS 1` does not let SQLite use the partial unique index)."""
from __future__ import annotations

import sqlite3
import uuid

import httpx
import pytest

from emulator.embedded import EmbeddedEmulator
from emulator.settings import Settings
from emulator.store import driver, schema

# Tables that grow with users: a plan that reads one of them whole, or all of a project's rows, is a scan.
GROWING = ("users", "contact_channels", "refresh_tokens", "team_members", "oauth_accounts", "webhook_messages")


@pytest.fixture(scope="module")
def statements():
    seen: list[str] = []
    run = driver.OneTripCursor._run

    def recording(self, method, sql, parameters):
        seen.append(sql)
        return run(self, method, sql, parameters)

    driver.OneTripCursor._run = recording
    emulator = EmbeddedEmulator(Settings.from_env(port=0, smtp_port=0, in_memory=True)).start()
    try:
        env = emulator.environment
        headers = {"x-stack-access-type": "client", "x-stack-project-id": env["HEXCLAVE_PROJECT_ID"],
                   "x-stack-publishable-client-key": env["HEXCLAVE_PUBLISHABLE_CLIENT_KEY"]}
        with httpx.Client(base_url=emulator.url + "/api/v1", headers=headers) as http:
            seen.clear()  # start-up's own statements (seeding, config) are not the hot paths
            credentials = {"email": f"plan-{uuid.uuid4().hex[:8]}@example.com", "password": "password123"}
            signed_up = http.post("/auth/password/sign-up", json=credentials)
            assert signed_up.status_code == 200, signed_up.text
            signed_in = http.post("/auth/password/sign-in", json=credentials).json()
            assert http.get("/users/me", headers={"x-stack-access-token": signed_in["access_token"]}).status_code == 200
            refreshed = http.post("/auth/sessions/current/refresh",
                                  headers={"x-stack-refresh-token": signed_in["refresh_token"]})
            assert refreshed.status_code == 200, refreshed.text
    finally:
        driver.OneTripCursor._run = run
        emulator.stop()
    return [sql for sql in dict.fromkeys(seen) if sql.lstrip().upper().startswith("SELECT")]


def scans(sql: str) -> list[str]:
    """The plan rows of `sql` (on the store's schema) that read a growing table whole or by its project alone."""
    conn = sqlite3.connect(":memory:")
    for statement in schema.prebuilt_statements():
        conn.execute(statement)
    plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, [None] * sql.count("?"))]
    return [step for step in plan for table in GROWING
            if step.startswith(f"SCAN {table}") or f"{table} USING INDEX ix_{table}_project_id " in step + " "]


def test_the_paths_ran_lookups(statements):
    assert any("contact_channels" in sql for sql in statements)  # the sign-up / sign-in e-mail lookup was seen
    assert any("refresh_tokens" in sql for sql in statements)


def test_no_hot_path_statement_scans_a_growing_table(statements):
    found = {sql: steps for sql in statements if (steps := scans(sql))}
    assert not found, "\n\n".join(f"{sql}\n  -> {steps}" for sql, steps in found.items())


def test_the_check_sees_a_scan():
    assert scans("SELECT user_id FROM contact_channels WHERE project_id = ? AND type = ? AND value = ? "
                 "AND used_for_auth IS 1")
    assert not scans("SELECT user_id FROM contact_channels WHERE project_id = ? AND type = ? AND value = ? "
                     "AND used_for_auth = 1")
