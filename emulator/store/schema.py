"""The store's schema as prebuilt SQL (schema.sql next to this file): a new store runs its ~110 statements instead
of compiling them from the models at every start, which is what create_all spends its 40-180 ms on.

schema.sql names the SHA-256 of the models.py it was made from. When models.py has changed since, start-up falls
back to create_all (the same tables, only slower) and tests/test_config_and_store.py fails until it is remade:

    python -m emulator.store.schema
"""
from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
MODELS_PY = Path(__file__).with_name("models.py")
DIGEST_LINE = "-- models.py sha256: "


def models_digest() -> str | None:
    try:
        return hashlib.sha256(MODELS_PY.read_bytes()).hexdigest()
    except OSError:  # e.g. a package run from a zip file
        return None


def prebuilt_statements() -> list[str] | None:
    """schema.sql's statements, or None when it is missing or was made from another models.py."""
    try:
        text = SCHEMA_SQL.read_text(encoding="utf-8")
    except OSError:
        return None
    digest = models_digest()
    if digest is None or f"{DIGEST_LINE}{digest}\n" not in text:
        return None
    return split(text)


def split(text: str) -> list[str]:
    """The statements of a script (comment lines dropped), as SQLite itself delimits them."""
    statements, current = [], ""
    for line in text.splitlines(keepends=True):
        if not current and (line.startswith("--") or not line.strip()):
            continue
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return statements


def generate() -> str:
    """schema.sql's content: create_all on a scratch in-memory database, read back as SQLite stored it."""
    from sqlalchemy import create_engine

    from emulator.store.models import Base

    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        Base.metadata.create_all(conn, checkfirst=False)
        # each table, then its indexes by name (create_all's index order varies from run to run)
        rows = conn.exec_driver_sql(
            "SELECT m.sql FROM sqlite_master m JOIN sqlite_master t ON t.type = 'table' AND t.name = m.tbl_name "
            "WHERE m.sql IS NOT NULL ORDER BY t.rowid, m.type = 'index', m.name").all()
    engine.dispose()
    head = ("-- The store's schema, made by `python -m emulator.store.schema` from emulator/store/models.py: "
            "do not edit.\n" f"{DIGEST_LINE}{models_digest()}\n\n")
    # SQLAlchemy ends column lines with a space; the file is kept without trailing blanks (the same statements)
    return head + "\n\n".join("\n".join(line.rstrip() for line in sql.splitlines()) + ";" for (sql,) in rows) + "\n"


if __name__ == "__main__":
    SCHEMA_SQL.write_text(generate(), encoding="utf-8")
    print(f"wrote {SCHEMA_SQL}")
