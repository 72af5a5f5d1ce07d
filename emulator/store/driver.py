"""aiosqlite, with one trip to its thread per statement instead of four.

aiosqlite runs every call (make a cursor, execute, fetch, close) as a separate hop to its worker thread, and each hop
costs a thread wake-up (~0.2 ms on a small VM). Here a statement is created, executed and fully fetched in a single
hop; fetches then read the prefetched rows and closing needs no hop. SQLAlchemy's aiosqlite dialect is unchanged:
the connection is handed to it through `async_creator`.
"""
from __future__ import annotations

import sqlite3
from typing import Any

import aiosqlite


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
    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)


def connect(path: str) -> OneTripConnection:
    return OneTripConnection(lambda: sqlite3.connect(path, isolation_level="", check_same_thread=False),
                             iter_chunk_size=64)
