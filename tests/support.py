"""Starts a real emulator process on loopback ports and talks to it over HTTP."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
FIXTURE_CONFIG = REPO / "fixtures" / "hexclave.config.py"

# The well-known local-development keys of the `internal` project.
INTERNAL_PCK = "this-publishable-client-key-is-for-local-development-only"
INTERNAL_SSK = "this-secret-server-key-is-for-local-development-only"
INTERNAL_SAK = "this-super-secret-admin-key-is-for-local-development-only"

BANNER_END = "Press Ctrl+C to stop."


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Emulator:
    proc: subprocess.Popen
    port: int
    smtp_port: int
    banner: list[str]
    output: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api(self) -> str:
        return self.url + "/api/v1"

    @property
    def env(self) -> dict[str, str]:
        """The KEY=VALUE lines of the start-up banner."""
        pairs = (line.strip().split("=", 1) for line in self.banner if "=" in line and " " not in line.strip())
        return {k: v for k, v in pairs}

    @property
    def project_id(self) -> str:
        return self.env["HEXCLAVE_PROJECT_ID"]

    @property
    def pck(self) -> str:
        return self.env["HEXCLAVE_PUBLISHABLE_CLIENT_KEY"]

    @property
    def ssk(self) -> str:
        return self.env["HEXCLAVE_SECRET_SERVER_KEY"]

    def http(self, access_type: str | None = None, *, project_id: str | None = None, prefix: str = "x-stack",
             access_token: str | None = None, key: str | None = None, **headers: str) -> httpx.Client:
        """An httpx client on /api/v1 sending the headers of one access type.

        `key` overrides the key that goes with the access type (pass "" to send none)."""
        h: dict[str, str] = {}
        if access_type:
            h[f"{prefix}-access-type"] = access_type
            h[f"{prefix}-project-id"] = project_id or self.project_id
            default_key = {"client": self.pck, "server": self.ssk, "admin": None}[access_type]
            if project_id == "internal":
                default_key = {"client": INTERNAL_PCK, "server": INTERNAL_SSK, "admin": INTERNAL_SAK}[access_type]
            the_key = default_key if key is None else key
            name = {"client": "publishable-client-key", "server": "secret-server-key",
                    "admin": "super-secret-admin-key"}[access_type]
            if the_key:
                h[f"{prefix}-{name}"] = the_key
        if access_token:
            h[f"{prefix}-access-token"] = access_token
        h.update({k.replace("_", "-"): v for k, v in headers.items()})
        return httpx.Client(base_url=self.api, headers=h, timeout=10)

    def client(self, **kw) -> httpx.Client:
        return self.http("client", **kw)

    def server(self, **kw) -> httpx.Client:
        return self.http("server", **kw)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_emulator(*args: str, config: Path | str | None = FIXTURE_CONFIG, env: dict[str, str] | None = None,
                   in_memory: bool = True, timeout: float = 20) -> Emulator:
    """Launch `python -m emulator start` and wait for its banner."""
    port, smtp_port = free_port(), free_port()
    cmd = [sys.executable, "-m", "emulator", "start", "--port", str(port), "--smtp-port", str(smtp_port)]
    if config is not None:
        cmd += ["--config", str(config)]
    if in_memory:
        cmd.append("--in-memory")
    cmd += list(args)
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, **(env or {})})
    banner: list[str] = []
    output: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        for line in proc.stdout:  # type: ignore[union-attr]
            output.append(line)
            if not ready.is_set():
                banner.append(line)
                if line.strip() == BANNER_END:
                    ready.set()
        ready.set()

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("emulator did not start:\n" + "".join(output))
    if not banner or banner[-1].strip() != BANNER_END:
        proc.wait(10)
        raise RuntimeError("emulator exited:\n" + "".join(output))
    return Emulator(proc, port, smtp_port, banner, output)


def wait_for(predicate, timeout=5.0):
    """Poll `predicate` until it is true (True) or `timeout` seconds pass (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def sign_up_enabled(emu) -> bool:
    """What the served config says of sign-up: the probe the hot-reload tests read a config change by."""
    with emu.client() as c:
        response = c.get("/projects/current")
        assert response.status_code == 200, response.text
        return response.json()["config"]["sign_up_enabled"]


def back_to_good_config(shared_emu, good_text: str):
    """A module's shared emulator with its config file rewritten to a known good content that turns sign-up off."""
    emu, path = shared_emu
    path.write_text(good_text)
    assert wait_for(lambda: sign_up_enabled(emu) is False)
    emu.output.clear()
    return emu, path
