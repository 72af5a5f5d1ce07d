"""Compatibility test: the REAL official SDK, `@stackframe/js` from npm, against a running emulator.

tests/sdk/package.json pins the exact SDK version and tests/sdk/package-lock.json pins its whole dependency
tree. When tests/sdk/node_modules/@stackframe/js is missing (or holds another version), the test installs it
with `npm ci` (the npm registry must be reachable then). tests/sdk/flows.mjs drives the SDK through sign-up,
sign-in, profile updates, sign-out, anonymous users, token refresh after a real access-token expiry, the
server-side user CRUD, and the email-driven features (magic link and OTP sign-in, password reset, email
verification, contact channels; their codes are read from the emulator's inbox API), printing `ok <flow>` /
`FAIL <flow>: ...` (with the HTTP exchanges of a failed flow).

Skipped only when node or npm is not installed, or when HEXCLAVE_SKIP_SDK_TESTS=1.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from support import start_emulator

SDK_DIR = Path(__file__).resolve().parent / "sdk"
SDK_PACKAGE = "@stackframe/js"
# The SDK refreshes an access token once fewer than 20 s remain and rejects tokens shorter than that, so the
# lifetime must be a little above 20 s; flows.mjs waits for one token to really expire (~lifetime seconds).
TOKEN_LIFETIME_S = 25
NODE_TIMEOUT_S = 150


def _pinned_version() -> str:
    return json.loads((SDK_DIR / "package.json").read_text())["dependencies"][SDK_PACKAGE]


def _installed_version() -> str | None:
    pkg = SDK_DIR / "node_modules" / "@stackframe" / "js" / "package.json"
    try:
        return json.loads(pkg.read_text())["version"]
    except (OSError, ValueError, KeyError):
        return None


def _ensure_sdk() -> None:
    if os.environ.get("HEXCLAVE_SKIP_SDK_TESTS") == "1":
        pytest.skip("HEXCLAVE_SKIP_SDK_TESTS=1")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node/npm not installed: cannot run the @stackframe/js compatibility test")
    if _installed_version() == _pinned_version():
        return
    # --ignore-scripts: nothing the SDK needs at run time has an install script (only esbuild, via tsx).
    cmd = ["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund", "--loglevel=error"]
    proc = subprocess.run(cmd, cwd=SDK_DIR, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"`{' '.join(cmd)}` in {SDK_DIR} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    assert _installed_version() == _pinned_version(), (
        f"after npm ci, {SDK_PACKAGE} is {_installed_version()}, expected {_pinned_version()}")


@pytest.fixture(scope="module")
def sdk_emu():
    _ensure_sdk()
    emu = start_emulator(env={"HEXCLAVE_ACCESS_TOKEN_EXPIRATION_TIME": str(TOKEN_LIFETIME_S)})
    yield emu
    emu.stop()


def _node_env(emu) -> dict[str, str]:
    # No inherited STACK_*/HEXCLAVE_* variables: the banner's own variables are the only configuration the
    # `banner-env` flow may see (the other flows pass everything explicitly).
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("STACK_", "HEXCLAVE_", "NEXT_PUBLIC_STACK_", "NEXT_PUBLIC_HEXCLAVE_",
                                 "NEXT_PUBLIC_BROWSER_", "NEXT_PUBLIC_SERVER_"))}
    return {
        **base,
        **emu.env,
        "HEXCLAVE_EMU_URL": emu.url,
        "HEXCLAVE_EMU_PROJECT_ID": emu.project_id,
        "HEXCLAVE_EMU_PCK": emu.pck,
        "HEXCLAVE_EMU_SSK": emu.ssk,
        "HEXCLAVE_EMU_TOKEN_LIFETIME": str(TOKEN_LIFETIME_S),
        "NODE_ENV": "test",
    }


def test_official_js_sdk_flows(sdk_emu):
    with tempfile.TemporaryDirectory() as tmp:
        env = _node_env(sdk_emu)
        env["HEXCLAVE_EMU_HTTP_LOG"] = str(Path(tmp) / "http.jsonl")
        try:
            proc = subprocess.run(["node", "flows.mjs"], cwd=SDK_DIR, env=env, capture_output=True, text=True,
                                  timeout=NODE_TIMEOUT_S)
            out, rc = proc.stdout + proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            out += f"\n(node flows.mjs timed out after {NODE_TIMEOUT_S} s)"
            rc = -1
    print(out)
    if rc != 0:
        emu_tail = "".join(sdk_emu.output[-60:])
        pytest.fail(f"@stackframe/js flows failed (exit {rc}):\n{out}\n--- emulator output (tail) ---\n{emu_tail}",
                    pytrace=False)
    assert not [line for line in out.splitlines() if line.startswith("FAIL ")], out
