"""Running a hexclave.config.py in a child process, so that whatever it does cannot stop or stall the emulator.

A config file is the user's Python: it may raise, call sys.exit() or os._exit(), loop or sleep for seconds. The
emulator runs it with `python -m emulator.domain.projects.config_process FILE`, waits at most a time limit, and gets
back either the `config` value as JSON or where and why the file failed. Only the standard library is imported here.
"""
from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any


class ConfigRunError(Exception):
    def __init__(self, line: int | None, reason: str):
        super().__init__(reason)
        self.line, self.reason = line, reason


def run(path: Path, timeout: float) -> Any:
    """The file's `config` (JSON-like values, tuples read as lists); ConfigRunError when it cannot be had."""
    package_root = str(Path(__file__).resolve().parents[3])  # so the child imports this very emulator
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    child = subprocess.Popen([sys.executable, "-m", "emulator.domain.projects.config_process", str(path)], env=env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True)
    try:
        out, _ = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(child)
        raise too_slow(timeout) from None
    try:
        answer = json.loads(out)
    except ValueError:
        raise ConfigRunError(None, f"the file ended the process running it (exit status {child.returncode}) "
                                   "before defining `config`") from None
    if "error" in answer:
        raise ConfigRunError(answer.get("line"), answer["error"])
    return answer["config"]


def too_slow(timeout: float) -> ConfigRunError:
    return ConfigRunError(None, f"the file ran for more than {timeout:g} s (a config file must finish quickly; "
                                "HEXCLAVE_CONFIG_LOAD_TIMEOUT sets the limit)")


def kill_group(child: subprocess.Popen) -> None:
    try:
        os.killpg(child.pid, signal.SIGKILL)  # the whole group: processes the file started go too
    except (AttributeError, OSError):  # no process groups (Windows), or already gone
        child.kill()
    child.communicate()


def _not_json(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"the config holds a {type(value).__name__}, which is not a JSON value")


def _answer(path: Path) -> dict[str, Any]:
    try:
        namespace = runpy.run_path(str(path), run_name="hexclave_config")
    except SyntaxError as exc:
        return {"line": exc.lineno, "error": f"syntax error: {exc.msg}"}
    except FileNotFoundError as exc:
        if exc.filename and Path(exc.filename) == path:
            return {"error": "file not found"}
        return _failure(path, exc)
    except BaseException as exc:  # the user's code raised, or called sys.exit(): report the deepest line of their file
        return _failure(path, exc)
    if "config" not in namespace:
        return {"error": "the file must define `config` (a dict, or \"show-onboarding\")"}
    try:
        json.dumps(namespace["config"], default=_not_json, allow_nan=False)
    except (TypeError, ValueError, RecursionError) as exc:
        return {"error": f"invalid config: {exc}"}
    return {"config": namespace["config"]}


def _failure(path: Path, exc: BaseException) -> dict[str, Any]:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).resolve() == path]
    reason = f"the file called sys.exit({exc.code!r})" if isinstance(exc, SystemExit) else f"{type(exc).__name__}: {exc}"
    return {"line": lines[-1] if lines else None, "error": reason}


def main() -> None:
    path = Path(sys.argv[1]).resolve()
    result = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # whatever the file prints goes to the emulator's log, not into the answer
    sys.stdout = sys.stderr
    answer = _answer(path)
    result.write(json.dumps(answer, default=_not_json))
    result.flush()
    os._exit(0)  # no atexit handlers or lingering threads of the file


if __name__ == "__main__":
    main()
