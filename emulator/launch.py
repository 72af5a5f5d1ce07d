"""The first moments of `hexclave-emulator start`, before the server's imports (SQLAlchemy, the models, uvicorn,
the routes: most of the start-up time). Two things begin here so that they overlap with those imports:

- the config file starts loading: its child Python (emulator.domain.projects.config_process) runs on another core
  while this process imports, and serve() takes the result, or the error, where it used to load the file;
- the garbage collector pauses: while modules and mapped classes are created, each collection walks the growing heap
  again for nothing (nearly all of it lives as long as the process). The warm-up freezes it and resumes.

Only light modules are imported here.
"""
from __future__ import annotations

import gc
import threading
from concurrent.futures import Future
from pathlib import Path

EMBEDDED_DEFAULT_CONFIG = Path(__file__).parent / "default_config.py"

_gc_paused = False


def find_config(explicit: Path | None) -> Path:
    """--config, else ./hexclave.config.py (or .ts, or the platform's ./stack.config.ts), else the repository's
    fixture, else the embedded defaults."""
    if explicit is not None:
        return explicit
    for candidate in (Path("hexclave.config.py"), Path("hexclave.config.ts"), Path("stack.config.ts"),
                      Path("fixtures/hexclave.config.py")):
        if candidate.is_file():
            return candidate
    return EMBEDDED_DEFAULT_CONFIG


def load_config_early(explicit: Path | None) -> Future:
    """The config file's ConfigFile, loading on a thread from now on (the thread mostly waits for the child)."""
    from emulator.domain.projects import config as config_mod

    path = find_config(explicit).resolve()
    loaded: Future = Future()

    def load() -> None:
        try:
            loaded.set_result(config_mod.ConfigFile.open(path))
        except BaseException as exc:  # ConfigFileError, reported by serve() as before
            loaded.set_exception(exc)

    threading.Thread(target=load, name="hexclave-config-load", daemon=True).start()
    return loaded


def pause_garbage_collector() -> None:
    global _gc_paused
    if gc.isenabled():
        gc.disable()
        _gc_paused = True


def garbage_collector_paused() -> bool:
    return _gc_paused


def resume_garbage_collector() -> None:
    """Called once start-up's objects are frozen (warm_up.py); a collector paused by someone else stays paused."""
    global _gc_paused
    if _gc_paused:
        gc.enable()
        _gc_paused = False
