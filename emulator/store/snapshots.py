"""Whole-store copies made with SQLite's online backup API (a page copy, not rows): named snapshots to save and
restore, and the export/import files of `hexclave-emulator export` and `start --import/--export-on-exit`."""
from __future__ import annotations

import os
import re
import sqlite3
from pathlib import Path

from emulator.clock import now_millis
from emulator.store.engine import Database

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SUFFIX = ".sqlite3"


class SnapshotError(ValueError):
    pass


def _copy(source: sqlite3.Connection, target: sqlite3.Connection) -> None:
    try:
        source.backup(target)
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a hexclave-emulator data file ({exc})") from None


def _write_file(main: sqlite3.Connection, path: Path) -> int:
    """Copy the store into `path` atomically (a reader never sees half a file); returns its size."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    target = sqlite3.connect(partial)
    try:
        target.execute("PRAGMA synchronous=OFF")  # a copy, replaced atomically below: no need to wait for the disk
        _copy(main, target)
        target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal companion
    finally:
        target.close()
    os.replace(partial, path)
    return path.stat().st_size


def _read_file(path: Path, main: sqlite3.Connection) -> None:
    if not path.is_file():
        raise SnapshotError(f"{path}: no such file")
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _copy(source, main)
    finally:
        source.close()


async def export_file(database: Database, path: Path) -> int:
    return await database.run_on_connection(lambda main: _write_file(main, Path(path)))


async def import_file(database: Database, path: Path) -> None:
    """Replace the store's content with an exported file (at start-up, before the schema is checked)."""
    await database.run_on_connection(lambda main: _read_file(Path(path), main))


class Snapshots:
    """Named snapshots: in memory for an in-memory store, files in <data-dir>/snapshots otherwise (they outlive a
    restart). Saving a name that exists replaces it."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._memory: dict[str, tuple[sqlite3.Connection, int]] = {}  # name -> (copy, saved at)

    @staticmethod
    def check_name(name: str) -> str:
        if not isinstance(name, str) or not NAME.match(name):
            raise SnapshotError("a snapshot name is 1 to 100 letters, digits, '.', '_' or '-', starting with a "
                                "letter or digit")
        return name

    def _path(self, name: str) -> Path:
        return self.directory / (name + SUFFIX)

    async def save(self, database: Database, name: str) -> dict:
        self.check_name(name)
        if self.directory is not None:
            await database.run_on_connection(lambda main: _write_file(main, self._path(name)))
            return self._info(name)

        def copy(main: sqlite3.Connection) -> sqlite3.Connection:
            target = sqlite3.connect(":memory:", check_same_thread=False)
            _copy(main, target)
            return target

        target = await database.run_on_connection(copy)
        old = self._memory.get(name)
        self._memory[name] = (target, now_millis())
        if old:
            old[0].close()
        return self._info(name)

    async def restore(self, database: Database, name: str, keep_meta: dict[str, str]) -> bool:
        """Replace the store's content with the snapshot, except the `meta` values given (written back in the
        same trip); False when there is no such snapshot."""
        if not self.exists(name):
            return False

        def work(main: sqlite3.Connection) -> None:
            if self.directory is not None:
                _read_file(self._path(name), main)
            else:
                _copy(self._memory[name][0], main)
            with main:
                main.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", keep_meta.items())

        await database.run_on_connection(work)
        return True

    def exists(self, name: str) -> bool:
        self.check_name(name)
        return self._path(name).is_file() if self.directory is not None else name in self._memory

    def _info(self, name: str) -> dict:
        if self.directory is not None:
            stat = self._path(name).stat()
            return {"name": name, "created_at_millis": int(stat.st_mtime * 1000), "size_bytes": stat.st_size}
        copy, saved_at = self._memory[name]
        size = copy.execute("PRAGMA page_count").fetchone()[0] * copy.execute("PRAGMA page_size").fetchone()[0]
        return {"name": name, "created_at_millis": saved_at, "size_bytes": size}

    def list(self) -> list[dict]:
        if self.directory is not None:
            names = [p.name[:-len(SUFFIX)] for p in self.directory.glob("*" + SUFFIX)] if self.directory.is_dir() else []
        else:
            names = list(self._memory)
        return sorted((self._info(n) for n in names if NAME.match(n)), key=lambda s: (s["created_at_millis"], s["name"]))

    def delete(self, name: str) -> bool:
        if not self.exists(name):
            return False
        if self.directory is not None:
            self._path(name).unlink()
        else:
            self._memory.pop(name)[0].close()
        return True
