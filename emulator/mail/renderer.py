"""Renders the platform's TSX (react-email) templates and themes with node: emulator/mail/tsx/renderer.mjs, run as
one long-lived worker process per emulator.

On first use the renderer's npm dependencies (react, react-dom, @react-email/components, html-to-text, arktype,
esbuild; pinned in tsx/package.json and package-lock.json) are installed with `npm ci` into a cache folder shared by
every emulator of this user (~/.cache/hexclave-emulator/tsx-renderer-<hash>, or $HEXCLAVE_TSX_CACHE_DIR). The worker keeps each
compiled template and theme pair (cached on disk by source hash too), so a render after the first costs milliseconds.
Without node (or with HEXCLAVE_NODE=off), `render` raises NodeUnavailable.
"""
from __future__ import annotations

import asyncio
import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("hexclave.renderer")

SOURCE_DIR = Path(__file__).resolve().parent / "tsx"
SCRIPTS = ("renderer.mjs", "tailwind-cache.mjs")  # copied next to node_modules, so their bare imports resolve
RENDER_TIMEOUT_SECONDS = 15.0  # a template that loops forever is stopped (and the worker restarted)
INSTALL_TIMEOUT_SECONDS = 300.0
NODE_MISSING = ("hexclave-emulator renders TSX email templates and themes with Node.js, which it cannot use here "
                "(no `node` and `npm` on PATH, or HEXCLAVE_NODE=off)")


class RenderError(Exception):
    """The template or theme could not be built or rendered; the message is the compiler's or the runtime's."""


class NodeUnavailable(RenderError):
    def __init__(self, reason: str = NODE_MISSING):
        super().__init__(reason)


@dataclass(frozen=True)
class Rendered:
    html: str
    text: str
    subject: str | None
    notification_category: str | None


def node_binary() -> str | None:
    """The node to run: $HEXCLAVE_NODE (a path or command name; `off` renders without node), else `node` on PATH."""
    configured = os.environ.get("HEXCLAVE_NODE")
    if configured is not None:
        return None if configured.strip() in ("", "off") else shutil.which(configured)
    return shutil.which("node")


def available() -> bool:
    return node_binary() is not None and shutil.which("npm") is not None


def cache_dir() -> Path:
    stamp = hashlib.sha256((SOURCE_DIR / "package-lock.json").read_bytes()).hexdigest()[:12]
    root = os.environ.get("HEXCLAVE_TSX_CACHE_DIR")
    base = Path(root) if root else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hexclave-emulator"
    return base / f"tsx-renderer-{stamp}"


def install(folder: Path) -> None:
    """`npm ci` into `folder` once (other emulators wait on the lock file meanwhile); copies the SCRIPTS there."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / "node_modules" / ".installed").exists():
            for name in ("package.json", "package-lock.json"):
                shutil.copyfile(SOURCE_DIR / name, folder / name)
            log.info("installing the TSX email renderer's npm packages into %s (first use only)", folder)
            done = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"],
                                  cwd=folder, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
            if done.returncode != 0:
                raise RenderError(f"could not install the TSX renderer's npm packages into {folder}: "
                                  f"{(done.stderr or done.stdout).strip()[-2000:]}")
            (folder / "node_modules" / ".installed").write_text("ok\n")
        for name in SCRIPTS:
            script = (SOURCE_DIR / name).read_bytes()
            target = folder / name
            if not target.exists() or target.read_bytes() != script:
                tmp = folder / f"{name}.{os.getpid()}"
                tmp.write_bytes(script)
                tmp.replace(target)


class Worker:
    """The node process and the answers it owes, matched by request id."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task | None = None
        self._stderr: asyncio.Task | None = None
        self._pending: dict[int, asyncio.Future] = {}
        self._next_id = 0
        self._starting = asyncio.Lock()

    async def _start(self) -> asyncio.subprocess.Process:
        async with self._starting:
            if self._process is not None and self._process.returncode is None:
                return self._process
            if not available():
                raise NodeUnavailable()
            folder = cache_dir()
            await asyncio.to_thread(install, folder)
            process = await asyncio.create_subprocess_exec(
                node_binary() or "node", str(folder / "renderer.mjs"), cwd=folder, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, limit=256 * 1024 * 1024,
                env={**os.environ, "NODE_ENV": "production"})  # React's production build: renders ~5x faster
            ready = await asyncio.wait_for(process.stdout.readline(), RENDER_TIMEOUT_SECONDS)
            if b'"ready"' not in ready:
                error = (await process.stderr.read()).decode("utf-8", "replace")
                raise RenderError(f"the TSX renderer did not start: {error.strip()[-2000:]}")
            self._process = process
            self._reader = asyncio.create_task(self._read(process))
            self._stderr = asyncio.create_task(self._drain_stderr(process))
            return process

    @staticmethod
    async def _drain_stderr(process: asyncio.subprocess.Process) -> None:
        """Read what node writes to stderr (a full pipe would block it): the renderer's notes are logged as
        warnings, anything else (a template's console.error) at debug level."""
        while line := await process.stderr.readline():
            text = line.decode("utf-8", "replace").rstrip()
            log.log(logging.WARNING if text.startswith("hexclave:") else logging.DEBUG, "TSX renderer: %s", text)

    async def _read(self, process: asyncio.subprocess.Process) -> None:
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            future = self._pending.pop(answer.get("id"), None)
            if future is not None and not future.done():
                future.set_result(answer)
        for future in self._pending.values():  # the process ended: nothing more will come
            if not future.done():
                future.set_exception(RenderError("the TSX renderer process exited"))
        self._pending.clear()

    async def render(self, template: str, theme: str, render_input: dict[str, Any]) -> Rendered:
        process = await self._start()
        self._next_id += 1
        request_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        request = {"id": request_id, "template": template, "theme": theme, "input": render_input}
        process.stdin.write(json.dumps(request).encode("utf-8") + b"\n")
        try:
            await process.stdin.drain()
            answer = await asyncio.wait_for(future, RENDER_TIMEOUT_SECONDS)
        except asyncio.TimeoutError:
            self.stop()
            raise RenderError(f"rendering took longer than {RENDER_TIMEOUT_SECONDS:g} seconds and was stopped")
        finally:
            self._pending.pop(request_id, None)
        if not answer.get("ok"):
            raise RenderError(answer.get("error") or "unknown rendering error")
        data = answer["data"]
        return Rendered(data.get("html") or "", data.get("text") or "", data.get("subject"),
                        data.get("notificationCategory"))

    def stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
        self._process = None


_workers: dict[int, Worker] = {}  # one per event loop (tests run several loops in one process)


async def render(template: str, theme: str, *, variables: dict[str, Any] | None = None,
                 user: dict[str, Any] | None = None, project: dict[str, Any] | None = None,
                 theme_props: dict[str, Any] | None = None, preview: bool = False) -> Rendered:
    """Render a template inside a theme. In preview mode the template's PreviewVariables and the theme's
    PreviewProps apply, and a missing user or project gets a sample one."""
    if preview:
        user = user or {"displayName": "John Doe"}
        project = project or {"displayName": "My Project"}
    loop_key = id(asyncio.get_running_loop())
    worker = _workers.get(loop_key)
    if worker is None:
        worker = _workers[loop_key] = Worker()
    return await worker.render(template, theme, {"variables": variables or {}, "user": user, "project": project,
                                                 "themeProps": theme_props or {}, "previewMode": preview})


async def close() -> None:
    """Stop this event loop's worker and wait for the process to end."""
    worker = _workers.pop(id(asyncio.get_running_loop()), None)
    process = worker and worker._process
    if process is not None and process.returncode is None:
        worker.stop()
        await process.wait()
