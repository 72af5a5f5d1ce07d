"""The data vault: stores declared in config (dataVault.stores), POST /data-vault/stores/{id}/set and /get, server
access only, values encrypted at rest.

Reference: apps/backend/src/app/api/latest/data-vault/stores/[id]/{set,get}/route.tsx, e2e data-vault.test.ts,
known errors DATA_VAULT_STORE_DOES_NOT_EXIST and DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST.
"""
from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

import pytest

from support import start_emulator
from wire import call, known_error, ok, schema_error, write_config

STORES = {"dataVault": {"stores": {"secrets": {"displayName": "Secrets"}, "other": {"displayName": "Other"}}}}


@pytest.fixture(scope="module")
def vault_dir():
    return Path(tempfile.mkdtemp(prefix="hexclave-vault-"))


@pytest.fixture(scope="module")
def vemu(vault_dir):
    """An emulator with two stores, keeping its data in a file (to look at what is stored)."""
    e = start_emulator("--data-dir", str(vault_dir), config=write_config(STORES), in_memory=False)
    yield e
    e.stop()


def vault(emu, store, op, access="server", **body):
    return call(emu, "POST", f"/data-vault/stores/{store}/{op}", access=access, json=body)


def test_set_get_update(vemu):
    assert ok(vault(vemu, "secrets", "set", hashed_key="h1", encrypted_value="first")) == {"success": True}
    assert ok(vault(vemu, "secrets", "get", hashed_key="h1")) == {"encrypted_value": "first"}
    ok(vault(vemu, "secrets", "set", hashed_key="h1", encrypted_value="second"))
    assert ok(vault(vemu, "secrets", "get", hashed_key="h1")) == {"encrypted_value": "second"}
    ok(vault(vemu, "secrets", "set", hashed_key="h-empty", encrypted_value=""))
    assert ok(vault(vemu, "secrets", "get", hashed_key="h-empty")) == {"encrypted_value": ""}


def test_stores_and_keys_are_separate(vemu):
    ok(vault(vemu, "secrets", "set", hashed_key="shared", encrypted_value="in secrets"))
    ok(vault(vemu, "other", "set", hashed_key="shared", encrypted_value="in other"))
    ok(vault(vemu, "other", "set", hashed_key="shared-2", encrypted_value="second key"))
    assert ok(vault(vemu, "secrets", "get", hashed_key="shared"))["encrypted_value"] == "in secrets"
    assert ok(vault(vemu, "other", "get", hashed_key="shared"))["encrypted_value"] == "in other"
    assert ok(vault(vemu, "other", "get", hashed_key="shared-2"))["encrypted_value"] == "second key"


def test_missing_key(vemu):
    known_error(vault(vemu, "secrets", "get", hashed_key="never-set"), 400, "DATA_VAULT_STORE_HASHED_KEY_DOES_NOT_EXIST",
                {"store_id": "secrets", "hashed_key": "never-set"})


@pytest.mark.parametrize("store", ["undeclared", "%20%20"])
def test_undeclared_store(vemu, store):
    r = vault(vemu, store, "set", hashed_key="k", encrypted_value="v")
    known_error(r, 400, "DATA_VAULT_STORE_DOES_NOT_EXIST", {"store_id": store.replace("%20", " ")})
    known_error(vault(vemu, store, "get", hashed_key="k"), 400, "DATA_VAULT_STORE_DOES_NOT_EXIST", {"store_id"})


def test_schema_checks_come_first(vemu):
    r = vault(vemu, "undeclared", "set", hashed_key="", encrypted_value="v")
    assert schema_error(r, "POST", "/api/v1/data-vault/stores/undeclared/set") == ["body.hashed_key must not be empty"]
    r = vault(vemu, "secrets", "get")
    assert schema_error(r, "POST", "/api/v1/data-vault/stores/secrets/get") == ["body.hashed_key must be defined"]
    r = vault(vemu, "secrets", "set", hashed_key="k", encrypted_value={"not": "a string"})
    assert schema_error(r, "POST", "/api/v1/data-vault/stores/secrets/set")[0].startswith(
        "body.encrypted_value must be a `string` type")


def test_server_access_only(vemu):
    known_error(vault(vemu, "secrets", "get", access="client", hashed_key="h1"), 401, "INSUFFICIENT_ACCESS_TYPE",
                {"actual_access_type", "allowed_access_types"})


def test_values_are_encrypted_at_rest(vemu, vault_dir):
    ok(vault(vemu, "secrets", "set", hashed_key="plain-check", encrypted_value="a-recognisable-value"))
    files = [p for p in vault_dir.rglob("*") if p.is_file() and p.suffix in (".db", ".sqlite", ".sqlite3")]
    assert files, list(vault_dir.rglob("*"))
    rows = []
    for path in files:
        with sqlite3.connect(path) as db:
            rows += db.execute("SELECT hashed_key, ciphertext FROM data_vault_entries").fetchall()
    stored = dict(rows)
    assert "plain-check" in stored
    assert b"a-recognisable-value" not in stored["plain-check"]
    assert all(b"a-recognisable-value" not in bytes(value) for value in stored.values())
