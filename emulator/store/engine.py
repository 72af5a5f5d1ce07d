"""The SQLite engine: WAL mode, one connection (so one writer), schema creation and versioning."""
from __future__ import annotations

from pathlib import Path

from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import StaticPool

from emulator.store.models import Base, Meta

# Bump when the models change, and add the step that brings a file of the previous version up to date.
SCHEMA_VERSION = 1
MIGRATIONS: dict[int, list[str]] = {
    # version reached -> SQL statements that reach it from the version before
}


class SchemaTooNew(RuntimeError):
    pass


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite+aiosqlite:///"):
        Path(url.removeprefix("sqlite+aiosqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    # A single shared connection: SQLite allows one writer anyway, and in-memory data lives in that connection.
    engine = create_async_engine(url, poolclass=StaticPool)

    @event.listens_for(engine.sync_engine, "connect")
    def _pragmas(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON", "busy_timeout=5000"):
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    return engine


async def prepare_schema(engine: AsyncEngine) -> None:
    """Create the schema on first start; bring an older file up to date; refuse a newer one."""
    async with engine.begin() as conn:
        has_meta = await conn.run_sync(lambda c: inspect(c).has_table("meta"))
        if not has_meta:
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(Meta.__table__.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))
            return
        found = int((await conn.execute(select(Meta.value).where(Meta.key == "schema_version"))).scalar_one())
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"this data file uses schema version {found}, but this emulator understands versions up to "
                f"{SCHEMA_VERSION}; upgrade hexclave-emulator or start with another --data-dir")
        for version in range(found + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[version]:
                await conn.exec_driver_sql(statement)
        await conn.run_sync(Base.metadata.create_all)  # new tables only; existing ones are left as they are
        await conn.execute(Meta.__table__.update().where(Meta.key == "schema_version").values(value=str(SCHEMA_VERSION)))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
