"""What test suites need of the store: back to a clean state (all projects or one), and throwaway projects."""
from __future__ import annotations

import sqlite3
import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.projects import project_admin
from emulator.domain.projects.projects import INTERNAL_PROJECT_ID, ProjectDirectory, full_key_set
from emulator.store.engine import Database
from emulator.store.models import ApiKeySet, Base, Project

# Settings rather than data: a reset keeps them for the projects it keeps. Every other table (present or added
# later) is data and is emptied.
PRESERVED_TABLES = {"meta", "projects", "api_key_sets", "config_levels", "stored_files"}  # files: project logos


def _data_tables():
    return [t for t in reversed(Base.metadata.sorted_tables) if t.name not in PRESERVED_TABLES]  # children first


# The official emulator's seeded admin user of `internal` (the owner of config-file projects) stays through a reset
# of everything, with its own rows in every table: remaking it would cost more than the whole reset.
SEED = {"seed_user": project_admin.LOCAL_EMULATOR_ADMIN_USER_ID}
SEED_TEAMS = "SELECT team_id FROM team_members WHERE user_id = :seed_user"


def _seed_row(table) -> str | None:
    """SQL condition: the row is the seeded user, one of its teams, or a row of them (by user_id, team_id, or
    customer_type/customer_id); None for tables that cannot hold such rows."""
    if table.name == "users":
        return "id = :seed_user"
    if table.name == "teams":
        return f"id IN ({SEED_TEAMS})"
    conditions = [*(["user_id = :seed_user"] if "user_id" in table.c else []),
                  *([f"team_id IN ({SEED_TEAMS})"] if "team_id" in table.c else []),
                  # payments rows name their customer by type and id (e.g. the seeded team's dashboard plan)
                  *([f"((customer_type = 'user' AND customer_id = :seed_user) OR "
                     f"(customer_type = 'team' AND customer_id IN ({SEED_TEAMS})))"]
                    if {"customer_type", "customer_id"} <= set(table.c.keys()) else [])]
    return " AND ".join(conditions) or None


KEPT_PROJECTS = f"SELECT id FROM projects WHERE config_path IS NOT NULL OR id = '{INTERNAL_PROJECT_ID}'"


def _clear(conn: sqlite3.Connection, project_id: str | None) -> bool:
    """The reset's deletes, in one transaction on the store's connection; False if there is no such project."""
    if project_id is not None:
        if conn.execute("SELECT 1 FROM projects WHERE id = ?", (project_id,)).fetchone() is None:
            return False
        with conn:  # rows of tables without a project_id column go with their parents (foreign keys cascade)
            for table in _data_tables():
                if "project_id" in table.c:
                    conn.execute(f'DELETE FROM "{table.name}" WHERE project_id = ?', (project_id,))
        return True
    # Everything goes but the seeded owner's own rows, so no foreign key can break: without the per-row checks
    # SQLite empties a table at once.
    conn.execute("PRAGMA foreign_keys=OFF")
    try:
        with conn:
            # The seed's few rows are read, every table emptied (no WHERE: SQLite drops the pages at once, where a
            # per-row delete updates every index), and the seed's rows written back.
            seed_rows = {table.name: conn.execute(f'SELECT * FROM "{table.name}" WHERE {condition}', SEED).fetchall()
                         for table in _data_tables() if (condition := _seed_row(table)) is not None}
            for table in _data_tables():
                conn.execute(f'DELETE FROM "{table.name}"')
            for name, rows in seed_rows.items():
                if rows:
                    conn.executemany(f'INSERT INTO "{name}" VALUES ({", ".join("?" * len(rows[0]))})', rows)
            for table in Base.metadata.sorted_tables:
                if table.name in PRESERVED_TABLES and "project_id" in table.c:
                    conn.execute(f'DELETE FROM "{table.name}" WHERE project_id NOT IN ({KEPT_PROJECTS})')
            conn.execute(f"DELETE FROM projects WHERE id NOT IN ({KEPT_PROJECTS})")
    finally:
        conn.execute("PRAGMA foreign_keys=ON")
    return True


async def reset(database: Database, directory: ProjectDirectory, bcrypt_rounds: int,
                project_id: str | None = None) -> bool:
    """Delete the data (users, teams, sessions, mail, purchases, …) of one project, or of every project. A reset of
    everything also deletes the projects made at run time; config-file projects and `internal` keep their ids,
    keys and config. False if there is no such project."""
    if not await database.run_on_connection(lambda conn: _clear(conn, project_id)):
        return False
    directory.forget(project_id)
    if project_id == INTERNAL_PROJECT_ID:  # the seeded owner of config-file projects lives in `internal`
        async with database.session() as db:
            await project_admin.ensure_local_emulator_owner(db, directory, bcrypt_rounds)
            await db.commit()
    return True


async def create_project(db: AsyncSession, directory: ProjectDirectory, config_project_id: str,
                         display_name: str | None) -> tuple[Project, ApiKeySet]:
    """A fresh project with its own keys and a copy of the served config file's config (not hot-reloaded)."""
    source = directory.files.get(config_project_id)
    row = Project(id=str(uuid.uuid4()), display_name=display_name or "Test project",
                  description="Made by the hexclave-emulator test kit", created_at_millis=now_millis(),
                  config_override=source.override if source else {},
                  owner_team_id=project_admin.LOCAL_EMULATOR_OWNER_TEAM_ID)
    db.add(row)
    await db.flush()
    keys = full_key_set(row.id)
    db.add(keys)
    await db.flush()
    return row, keys
