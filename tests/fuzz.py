"""Fuzzing a running emulator through its own OpenAPI document with schemathesis: every operation, at every access
level it takes, with valid (positive) and invalid (negative) data. Used by tests/test_openapi.py (a few examples per
operation) and bench/fuzz.py (many)."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from support import FIXTURE_CONFIG, INTERNAL_SAK, Emulator, start_emulator

# Streams or waits by design; the fuzzer would only sit in them.
SKIP = {"GET /api/v1/emulator/inbox/wait", "GET /api/v1/emulator/inbox/events"}


@dataclass
class FuzzReport:
    calls: int = 0
    operations: int = 0
    server_errors: list[str] = field(default_factory=list)


def start_fuzz_target() -> Emulator:
    """An emulator of its own on a copy of the fixture config (config write-backs rewrite the file)."""
    config = Path(tempfile.mkdtemp(prefix="hexclave-fuzz-")) / "hexclave.config.py"
    shutil.copy(FIXTURE_CONFIG, config)
    return start_emulator(config=config, timeout=60)


def access_headers(emu: Emulator, level: str | None) -> dict[str, str]:
    """Client and server access to the config file's project; admin access to the internal project (the only one
    whose admin key is known)."""
    if level is None:
        return {}
    if level == "admin":
        return {"x-stack-access-type": "admin", "x-stack-project-id": "internal",
                "x-stack-super-secret-admin-key": INTERNAL_SAK}
    key = ("publishable-client-key", emu.pck) if level == "client" else ("secret-server-key", emu.ssk)
    return {"x-stack-access-type": level, "x-stack-project-id": emu.project_id, f"x-stack-{key[0]}": key[1]}


def is_not_supported(response) -> bool:
    """501 NOT_SUPPORTED_BY_EMULATOR: the emulator's documented answer for the platform features it lacks."""
    return response.status_code == 501 and '"NOT_SUPPORTED_BY_EMULATOR"' in response.text


def fuzz(emu: Emulator, examples: int, report: FuzzReport) -> FuzzReport:
    """`examples` generated requests per operation and mode (valid and invalid data), each sent at every access
    level the operation takes."""
    schema = schemathesis.openapi.from_url(emu.api + "/emulator/openapi.json")
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        label = f"{operation.method.upper()} {operation.path}"
        if label in SKIP:
            continue
        report.operations += 1
        levels = operation.definition.raw.get("x-access-types") or [None]

        def send(case) -> None:
            for level in levels:
                headers = {**(case.headers or {}), **access_headers(emu, level)}
                response = case.call(base_url=emu.url, headers=headers, session=session, timeout=30)
                report.calls += 1
                if response.status_code >= 500 and not is_not_supported(response):
                    report.server_errors.append(f"{response.status_code} {label} as {level}: "
                                                f"{case.as_curl_command(headers)}\n    {response.text[:300]}")

        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run = settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                           phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))(
                given(case=operation.as_strategy(generation_mode=mode))(send))
            try:
                run()
            except Unsatisfiable:
                pass  # nothing to make invalid: an operation without parameters has no negative cases
    session.close()
    return report
