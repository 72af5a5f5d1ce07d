"""Values computed from the store, kept only until the store next changes.

Every call that may change stored data bumps `driver.writes` (see emulator/store/driver.py): any statement but a
SELECT, every commit and rollback, snapshot restores and resets on the raw connection. An entry is valid only for
the count it was computed at, so no write path has to remember to invalidate it. Sessions run one at a time
(`Database.session`), so a value read in one cannot miss a write another is in the middle of.
"""
from __future__ import annotations

from typing import Any, Hashable

from emulator.store import driver

LIMIT = 10_000  # entries; all are dropped beyond it (and at every write anyway)


class ReadCache:
    def __init__(self) -> None:
        self._entries: dict[Hashable, Any] = {}
        self._at = -1  # the write count the entries were computed at

    @staticmethod
    def version() -> int:
        """Take it before reading what is to be cached, and hand it to put()."""
        return driver.writes

    def get(self, key: Hashable) -> Any:
        if self._at != driver.writes:
            return None
        return self._entries.get(key)

    def put(self, key: Hashable, value: Any, version: int) -> None:
        if version != driver.writes:  # something was written since the value was read
            return
        if self._at != version or len(self._entries) >= LIMIT:
            self._entries.clear()
            self._at = version
        self._entries[key] = value
