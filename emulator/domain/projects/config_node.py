"""Running a TypeScript / JavaScript config file (hexclave.config.ts, stack.config.ts, ...) with node.

The same contract as config_process (the Python loader): the file runs in a child process with a time limit, and the
emulator gets back either its `config` export as JSON or where and why the file failed (ConfigRunError). The child is
config_loader.mjs, which strips types and bundles relative imports with the esbuild of the TSX email renderer's npm
cache folder (installed there on first use, outside the time limit).
"""
from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from emulator.domain.projects.config_process import ConfigRunError, kill_group, too_slow

LOADER = Path(__file__).resolve().parent / "config_loader.mjs"
SUFFIXES = (".ts", ".mts", ".cts", ".js", ".mjs", ".cjs")


def is_node_config(path: Path) -> bool:
    return path.suffix in SUFFIXES


def run(path: Path, timeout: float) -> Any:
    """The file's exported `config`; ConfigRunError when it cannot be had (also without node on this machine)."""
    from emulator.mail import renderer  # node discovery and the npm cache folder are the renderer's

    node = renderer.node_binary()
    if node is None:
        raise ConfigRunError(None, "TypeScript and JavaScript config files run with Node.js, which is not available "
                                   "here (no `node` on PATH, or HEXCLAVE_NODE=off); install Node.js 18+ or use a "
                                   "hexclave.config.py")
    folder = renderer.cache_dir()
    try:
        renderer.install(folder)  # `npm ci` once per machine; not counted in the file's time limit
    except (renderer.RenderError, OSError, subprocess.SubprocessError) as exc:
        raise ConfigRunError(None, f"could not prepare the TypeScript loader (esbuild): {exc}") from None
    with tempfile.TemporaryDirectory(prefix="hexclave-config-") as scratch:
        result = Path(scratch) / "result.json"
        # stdout to stderr: whatever the file prints goes to the emulator's log.
        child = subprocess.Popen([node, str(LOADER), str(folder), str(path), str(result)], cwd=path.parent,
                                 stdin=subprocess.DEVNULL, stdout=2, start_new_session=True)
        try:
            child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_group(child)
            raise too_slow(timeout) from None
        try:
            answer = json.loads(result.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            raise ConfigRunError(None, f"the file ended the process running it (exit status {child.returncode}) "
                                       "before exporting `config`") from None
    if "error" in answer:
        raise ConfigRunError(answer.get("line"), answer["error"])
    return answer["config"]
