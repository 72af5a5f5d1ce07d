"""Benchmark of the dashboard pages with 1,000 users and 100 teams.

Run from the repository root:  python bench/dashboard.py

Not a test: it prints the figures with their targets and always exits 0 when the run completes. It starts its own
emulator (in memory, free loopback ports, a copy of the fixture config) and stops it before exiting, also on error.

Seeds 1,000 users (every tenth restricted, every third verified) and 100 teams of 10 members with a granted
permission, a purchase and an item change for one user, then loads each page ROUNDS times over one keep-alive
connection. The figure is the server time the page reports in its `Server-Timing: app;dur=…` header (from the
request reaching the page handler to the rendered HTML, API calls included; the target applies to its median);
the process's CPU time per page (`cpu;dur=…`) and the client's wall time per request are shown too.
"""
from __future__ import annotations

import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import FIXTURE_CONFIG, start_emulator  # noqa: E402

USERS = 1_000
TEAMS = 100
MEMBERS_PER_TEAM = 10
ROUNDS = 40
TARGET_MS = 50.0


class Http:
    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.headers = headers or {}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, http.client.HTTPResponse]:
        headers = {**self.headers, **({"content-type": "application/json"} if body is not None else {})}
        self.conn.request(method, path, json.dumps(body) if body is not None else None, headers)
        response = self.conn.getresponse()
        data = response.read()
        is_json = response.getheader("content-type", "").startswith("application/json")
        return response.status, json.loads(data) if is_json and data else {}, response


def seed(emu) -> dict[str, str]:
    api = Http(emu.port, {"x-stack-access-type": "server", "x-stack-project-id": emu.project_id,
                          "x-stack-secret-server-key": emu.ssk})

    def ok(method: str, path: str, body: dict | None = None) -> dict:
        status, data, _ = api.call(method, "/api/v1" + path, body)
        if status not in (200, 201):
            raise SystemExit(f"{method} {path} answered {status}: {data}")
        return data

    user_ids = [ok("POST", "/users", {"primary_email": f"bench-{i}@example.com", "display_name": f"Bench user {i}",
                                      "primary_email_auth_enabled": True, "primary_email_verified": i % 3 == 0,
                                      "restricted_by_admin": i % 10 == 0})["id"] for i in range(USERS)]
    team_ids = []
    for t in range(TEAMS):
        team = ok("POST", "/teams", {"display_name": f"Bench team {t}", "creator_user_id": user_ids[t]})
        for m in range(1, MEMBERS_PER_TEAM):
            ok("POST", f"/team-memberships/{team['id']}/{user_ids[(t + m * TEAMS) % USERS]}", {})
        ok("POST", f"/team-permissions/{team['id']}/{user_ids[t]}/moderator", {})
        team_ids.append(team["id"])
    ok("POST", f"/payments/products/user/{user_ids[0]}", {"product_id": "credits-pack", "quantity": 2})
    ok("POST", f"/payments/items/user/{user_ids[0]}/credits/update-quantity?allow_negative=false", {"delta": -5})
    return {"user": user_ids[0], "team": team_ids[0]}


def main() -> None:
    config = Path(tempfile.mkdtemp(prefix="hexclave-bench-")) / "hexclave.config.py"
    shutil.copy(FIXTURE_CONFIG, config)
    emu = start_emulator(config=config)
    try:
        started = time.perf_counter()
        ids = seed(emu)
        seeded = time.perf_counter() - started
        project = f"project={quote(emu.project_id)}"
        pages = {
            "/ (overview)": f"/?{project}",
            "/users": f"/users?{project}",
            "/users?q= (search)": f"/users?{project}&q=bench-99&filter=all&sort=active",
            "/users/{id}": f"/users/{ids['user']}?{project}",
            "/teams": f"/teams?{project}",
            "/teams/{id}": f"/teams/{ids['team']}?{project}",
            "/config": f"/config?{project}",
            "/payments (customer)": f"/payments?{project}&customer_type=user&customer_id={ids['user']}",
        }
        browser = Http(emu.port)
        figures = {}
        for name, path in pages.items():
            server_ms, cpu_ms, wall_ms = [], [], []
            for _ in range(ROUNDS):
                start = time.perf_counter()
                status, _, response = browser.call("GET", path)
                wall_ms.append((time.perf_counter() - start) * 1000)
                if status != 200:
                    raise SystemExit(f"GET {path} answered {status}")
                timing = dict(part.strip().split(";dur=") for part in response.getheader("server-timing").split(","))
                server_ms.append(float(timing["app"]))
                cpu_ms.append(float(timing["cpu"]))
            figures[name] = (server_ms[1:], cpu_ms[1:], wall_ms[1:])  # the first view compiles the template
    finally:
        emu.stop()
    print(f"dashboard benchmark: {USERS} users, {TEAMS} teams of {MEMBERS_PER_TEAM} (seeded in {seeded:.1f} s), "
          f"{ROUNDS - 1} warm loads per page")
    for name, (server_ms, cpu_ms, wall_ms) in figures.items():
        median, p95 = statistics.median(server_ms), sorted(server_ms)[int(len(server_ms) * 0.95) - 1]
        verdict = "ok" if median < TARGET_MS else "MISSED"
        print(f"  {name:<22} server median {median:6.1f} ms  p95 {p95:6.1f} ms  cpu median "
              f"{statistics.median(cpu_ms):6.1f} ms  (client wall median {statistics.median(wall_ms):6.1f} ms)  "
              f"target < {TARGET_MS:g} ms  {verdict}")
    print(f"  (load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; the cpu figure "
          "is the server process's own CPU time per page)")


if __name__ == "__main__":
    main()
