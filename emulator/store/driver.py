"""aiosqlite's interface, with each statement run on the event loop's own thread.

aiosqlite runs every call (make a cursor, execute, fetch, close) as a hop to its worker thread, and each hop costs a
thread wake-up (~0.2 ms on a small VM, several ms on a busy one) -- far more than the statement itself: the
emulator's statements are small lookups and writes on an in-memory or local file that only this process opens (it
waits at most busy_timeout for a lock). So a statement is created, executed and fully fetched right away, inline;
fetches then read the prefetched rows. SQLAlchemy's aiosqlite dialect is unchanged: the connection is handed to it
through `async_creator`, and it still awaits every call.
"""
from __future__ import annotations

import asyncio
import re
import sqlite3
from typing import Any

import aiosqlite

# Bumped by every call that may change stored data (any statement but a SELECT, commits, rollbacks, work run on the
# raw connection such as a snapshot restore): read caches (emulator/store/read_cache.py) keep a value only while it
# stays the same. One counter for the process: an embedded emulator's writes also drop another's caches (harmless).
writes = 0
# Finer, per table: a plain INSERT or UPDATE bumps its table's count; anything else that may change data beyond the
# table it names bumps `everything`: DELETEs (foreign keys cascade), INSERT OR REPLACE, DDL, rollbacks, snapshot
# restores and resets. So table_version() changes whenever that table may have.
table_writes: dict[str, int] = {}
everything = 0
_TABLE = re.compile(r'(?:INSERT INTO|UPDATE) "?(\w+)')


def table_version(table: str) -> tuple[int, int]:
    return everything, table_writes.get(table, 0)


def _note_write(sql: str | None = None) -> None:
    global writes, everything
    writes += 1
    found = _TABLE.match(sql) if sql is not None else None
    if found is None:
        everything += 1
    else:
        table_writes[found[1]] = table_writes.get(found[1], 0) + 1


class OneTripCursor:
    def __init__(self, conn: "OneTripConnection") -> None:
        self._conn = conn
        self._cursor: sqlite3.Cursor | None = None
        self._rows: list = []

    async def __aenter__(self) -> "OneTripCursor":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    def _run(self, method: str, sql: str, parameters: Any) -> list:
        if method != "execute" or not sql.startswith("SELECT"):
            _note_write(sql)
        if self._cursor is None:
            self._cursor = self._conn._conn.cursor()
        getattr(self._cursor, method)(sql, parameters)
        return self._cursor.fetchall() if self._cursor.description else []

    async def execute(self, sql: str, parameters: Any = ()) -> "OneTripCursor":
        self._rows = await self._conn._execute(self._run, "execute", sql, parameters if parameters is not None else ())
        return self

    async def executemany(self, sql: str, parameters: Any) -> "OneTripCursor":
        self._rows = await self._conn._execute(self._run, "executemany", sql, parameters)
        return self

    async def fetchall(self) -> list:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list:
        size = size or 1
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._cursor = None  # sqlite3 finalizes the statement when the cursor is collected

    @property
    def description(self) -> Any:
        return self._cursor.description if self._cursor else None

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount if self._cursor else -1

    @property
    def lastrowid(self) -> int | None:
        return self._cursor.lastrowid if self._cursor else None

    @property
    def arraysize(self) -> int:
        return 1


class OneTripConnection(aiosqlite.Connection):
    """Never starts aiosqlite's worker thread: connect, execute, commit and close run inline."""

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def _execute(self, fn, *args, **kwargs):
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        if getattr(fn, "__func__", None) is not OneTripCursor._run:  # commit, rollback, raw work: counted as writes
            if fn != self._conn.commit:  # (a commit changes nothing a reader of this connection had not seen)
                _note_write()  # (a cursor's statement is counted in _run, by its SQL)
            else:
                global writes
                writes += 1
        return fn(*args, **kwargs)

    async def run_in_thread(self, work):
        """Run `work(sqlite3_connection)` on a worker thread (snapshots, export, import: long copies that
        would otherwise stall every request). The caller holds the database's turn, so nothing else uses the
        connection meanwhile. Counted as a write before and after, as any raw work."""
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        _note_write()
        try:
            return await asyncio.to_thread(work, self._conn)
        finally:
            _note_write()

    def __await__(self):
        return self._open().__await__()

    async def _open(self) -> "OneTripConnection":
        if self._connection is None:
            self._connection = self._connector()
        return self

    async def close(self) -> None:
        self._running = False
        if self._connection is not None:
            connection, self._connection = self._connection, None
            connection.close()

    def stop(self) -> None:  # aiosqlite's __del__ calls it; there is no thread to stop
        self._running = False


def connect(path: str) -> OneTripConnection:
    return OneTripConnection(lambda: sqlite3.connect(path, isolation_level="", check_same_thread=False),
                             iter_chunk_size=64)
