"""What test suites need of the store: back to a clean state (all projects or one), and throwaway projects."""
from __future__ import annotations

import uuid

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain import project_admin
from emulator.domain.projects import INTERNAL_PROJECT_ID, ProjectDirectory, full_key_set
from emulator.store.models import ApiKeySet, Base, Project

# Settings rather than data: a reset keeps them for the projects it keeps. Every other table (present or added
# later) is data and is emptied.
PRESERVED_TABLES = {"meta", "projects", "api_key_sets", "config_levels"}


def _data_tables():
    return [t for t in reversed(Base.metadata.sorted_tables) if t.name not in PRESERVED_TABLES]  # children first


async def reset(db: AsyncSession, directory: ProjectDirectory, bcrypt_rounds: int, project_id: str | None = None) -> None:
    """Delete the data (users, teams, sessions, mail, purchases, …) of one project, or of every project. A reset of
    everything also deletes the projects made at run time; config-file projects and `internal` keep their ids,
    keys and config."""
    if project_id is None:
        for table in _data_tables():
            await db.execute(delete(table))
        kept = select(Project.id).where(or_(Project.config_path.is_not(None), Project.id == INTERNAL_PROJECT_ID))
        for table in Base.metadata.sorted_tables:
            if table.name in PRESERVED_TABLES and "project_id" in table.c:
                await db.execute(delete(table).where(table.c.project_id.not_in(kept)))
        await db.execute(delete(Project).where(Project.id.not_in(kept)))
    else:
        # Rows of tables without a project_id column go with their parents (foreign keys cascade).
        for table in _data_tables():
            if "project_id" in table.c:
                await db.execute(delete(table).where(table.c.project_id == project_id))
    directory.forget(project_id)
    if project_id in (None, INTERNAL_PROJECT_ID):  # the seeded owner of config-file projects lives in `internal`
        await project_admin.ensure_local_emulator_owner(db, directory, bcrypt_rounds)


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
