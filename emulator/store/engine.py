"""The SQLite engine: WAL mode, one connection (so one writer), schema creation and versioning."""
from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import AsyncIterator, TypeVar

from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key
from sqlalchemy.pool import StaticPool

from emulator.store import driver, schema
from emulator.store.models import Base, Meta, OAuthAccount, User
from emulator.store.read_cache import ReadCache

T = TypeVar("T")

# Bump when the models change, and add the step that brings a file of the previous version up to date.
SCHEMA_VERSION = 2
MIGRATIONS: dict[int, list[str]] = {
    # version reached -> SQL statements that reach it from the version before
    2: [  # projects managed through the admin API: owner team and the dashboard's project fields
        "ALTER TABLE projects ADD COLUMN owner_team_id VARCHAR",
        "CREATE INDEX ix_projects_owner_team_id ON projects (owner_team_id)",
        "ALTER TABLE projects ADD COLUMN is_production_mode BOOLEAN NOT NULL DEFAULT 0",
        "ALTER TABLE projects ADD COLUMN logo_url TEXT",
        "ALTER TABLE projects ADD COLUMN logo_full_url TEXT",
        "ALTER TABLE projects ADD COLUMN logo_dark_mode_url TEXT",
        "ALTER TABLE projects ADD COLUMN logo_full_dark_mode_url TEXT",
        "ALTER TABLE projects ADD COLUMN onboarding_status VARCHAR NOT NULL DEFAULT 'completed'",
    ],
}


class SchemaTooNew(RuntimeError):
    pass


def make_engine(url: str) -> AsyncEngine:
    path = url.removeprefix("sqlite+aiosqlite://").removeprefix("/") or ":memory:"
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    # A single shared connection: SQLite allows one writer anyway, and in-memory data lives in that connection.
    # Each request ends its own transaction (commit after writes, rollback on errors), so the pool need not roll
    # back on every return: that saves a round trip to the database thread on every read-only request.
    engine = create_async_engine("sqlite+aiosqlite://", async_creator=lambda: driver.connect(path),
                                 poolclass=StaticPool, pool_reset_on_return=None)

    dialect = engine.sync_engine.dialect
    rollback = dialect.do_rollback

    def rollback_if_needed(dbapi_connection):
        # Every call into aiosqlite is a round trip to its thread; a read-only request has nothing to roll back.
        if dbapi_connection.driver_connection.in_transaction:
            rollback(dbapi_connection)

    dialect.do_rollback = rollback_if_needed

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
        if not has_meta:  # a new file: no table exists, so skip create_all's per-table existence checks
            await conn.run_sync(_create_schema)
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


def _create_schema(conn) -> None:
    """The tables of a new store: the prebuilt statements (emulator/store/schema.sql), compiled by create_all only
    when that file was made from another models.py."""
    statements = schema.prebuilt_statements()
    if statements is None:
        Base.metadata.create_all(conn, checkfirst=False)
        return
    for statement in statements:
        conn.exec_driver_sql(statement)


class Database:
    """Sessions over the one shared connection, one at a time: concurrent requests would otherwise interleave
    their statements in a single SQLite transaction (and one's rollback would undo another's writes)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._turn = asyncio.Lock()
        self.reads = ReadCache()  # renders of stored rows, valid until the next write

    def busy(self) -> bool:
        """Whether a session is open now (a new one would wait for its turn)."""
        return self._turn.locked()

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self._turn:
            db = self._sessions()
            try:
                yield db
            finally:
                # A session that never began a transaction nor holds objects (a request answered from caches) has
                # nothing to close: closing it anyway costs a task and a greenlet switch per request. It still yields
                # once, as closing did: without that yield a request answered from caches never lets the loop turn,
                # and under 50 connections the slowest 1 % waited 6-10x longer (p99 420-520 ms instead of 50-80 ms).
                if db.in_transaction() or db.identity_map or db.new:
                    await db.close()
                else:
                    await asyncio.sleep(0)

    async def run_on_connection(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the store's sqlite3 connection between sessions (snapshots, export), on a worker thread: the
        loop goes on serving what needs no database meanwhile."""
        async with self._turn, self.engine.connect() as conn:
            return await (await conn.get_raw_connection()).driver_connection.run_in_thread(work)


def note_writes(session) -> None:
    """Mark a session that wrote (flushed ORM changes or ran DML), so read-only requests can skip COMMIT."""
    session.info["wrote"] = True


@event.listens_for(Session, "after_flush")
def _after_flush(session, _context):
    note_writes(session)
    # User.oauth_accounts is view-only: when a flush adds or removes accounts of a user this session has loaded,
    # mark that list for reloading so the user renders with its current accounts.
    for account in (*session.new, *session.deleted):
        if isinstance(account, OAuthAccount):
            user = session.identity_map.get(identity_key(User, account.user_id))
            if user is not None:
                session.expire(user, ["oauth_accounts"])


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state):
    if not state.is_select:
        note_writes(state.session)


async def finish(db: AsyncSession) -> None:
    """End a request's transaction: commit if anything was written, otherwise nothing to do."""
    if db.new or db.dirty or db.deleted or db.info.get("wrote"):
        await db.commit()
