"""Benchmark of the test kit: reset, snapshot save and restore, and test-kit project creation, with 1,000 users.

Run from the repository root:  python bench/testkit.py

Not a test: it prints the figures with their targets and always exits 0 when the run completes. It starts its own
emulators (free loopback ports; one in memory, one on a data directory) and stops them before exiting, also on
error. Each store is filled with 1,000 users (with a contact channel each) and 100 teams, saved as snapshot
`full`; every timed reset starts from a restore of `full`. Times are wall-clock round trips of one HTTP request
over a keep-alive connection (what a test suite sees), median and max of ROUNDS.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import start_emulator  # noqa: E402

USERS = 1_000
TEAMS = 100
ROUNDS = 20
PROJECTS = 200
TARGETS = {"reset_ms": 20.0, "snapshot_save_ms": 50.0, "snapshot_restore_ms": 50.0, "project_create_ms": 20.0}


def timed(call) -> float:
    started = time.perf_counter()
    response = call()
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code >= 300:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return elapsed


def fill(emu) -> None:
    server = emu.server()
    for i in range(USERS):
        r = server.post("/users", json={"primary_email": f"bench-{i}-{uuid.uuid4().hex[:6]}@example.com",
                                        "display_name": f"User {i}"})
        r.raise_for_status()
    for i in range(TEAMS):
        server.post("/teams", json={"display_name": f"Team {i}"}).raise_for_status()


def measure(emu) -> dict[str, list[float]]:
    kit = httpx.Client(base_url=emu.api + "/emulator", timeout=30)
    fill(emu)
    figures: dict[str, list[float]] = {name: [] for name in TARGETS}
    for _ in range(ROUNDS):
        figures["snapshot_save_ms"].append(timed(lambda: kit.post("/snapshots", json={"name": "full"})))
    for _ in range(ROUNDS):
        figures["snapshot_restore_ms"].append(timed(lambda: kit.post("/snapshots/full/restore")))
    for _ in range(ROUNDS):
        kit.post("/snapshots/full/restore").raise_for_status()
        figures["reset_ms"].append(timed(lambda: kit.post("/reset")))
    kit.post("/snapshots/full/restore").raise_for_status()
    created = []
    for _ in range(PROJECTS):
        started = time.perf_counter()
        response = kit.post("/projects", json={})
        figures["project_create_ms"].append((time.perf_counter() - started) * 1000)
        created.append(response.json()["id"])
    for project_id in created:
        kit.delete(f"/projects/{project_id}").raise_for_status()
    return figures


def report(title: str, figures: dict[str, list[float]]) -> None:
    print(f"\n{title}  ({USERS} users, {TEAMS} teams)")
    print(f"  {'figure':<22}{'median':>10}{'max':>10}   target")
    for name, values in figures.items():
        median = statistics.median(values)
        verdict = "ok" if median < TARGETS[name] else "MISSED"
        print(f"  {name:<22}{median:>8.1f}ms{max(values):>8.1f}ms   < {TARGETS[name]:g} ms  {verdict}")


def main() -> None:
    print(f"load average before the run: {' '.join(f'{x:.1f}' for x in os.getloadavg())} ({os.cpu_count()} CPUs)")
    for title, args, in_memory in (("in memory", (), True), ("data directory (WAL file)", None, False)):
        with tempfile.TemporaryDirectory() as data:
            emu = start_emulator(*(args if args is not None else ("--data-dir", data)), in_memory=in_memory)
            try:
                report(title, measure(emu))
            finally:
                emu.stop()


if __name__ == "__main__":
    main()
