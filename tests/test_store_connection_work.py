"""Long work on the store's connection (snapshots, export, import) runs on a worker thread while it holds the
database's turn: the event loop goes on with everything that needs no database."""
from __future__ import annotations

import asyncio

from emulator.store import driver
from emulator.store.engine import Database, make_engine, prepare_schema


def test_connection_work_leaves_the_loop_free_and_counts_as_a_write():
    async def main():
        database = Database(make_engine("sqlite+aiosqlite://"))
        await prepare_schema(database.engine)
        loop = asyncio.get_running_loop()

        async def on_the_loop():
            return database.busy()

        def work(conn):
            # Needs the loop to run a task meanwhile: inline on the loop, this would wait out its timeout and raise.
            held = asyncio.run_coroutine_threadsafe(on_the_loop(), loop).result(timeout=2)
            return held, conn.execute("SELECT count(*) FROM meta").fetchone()[0]

        writes = driver.writes
        assert await database.run_on_connection(work) == (True, 1)  # the turn was held throughout
        assert driver.writes > writes  # read caches drop what they kept
        await database.engine.dispose()

    asyncio.run(main())
