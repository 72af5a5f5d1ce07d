"""Benchmark of recursive permission checks: one user in 50 teams, a three-level permission tree.

Run from the repository root:  python bench/permissions.py

Not a test: it prints the figures with their targets and always exits 0 when the run completes. It starts its own
emulator (in memory, free loopback ports, a temporary config) and stops it before exiting, also on error.

The user holds `owner` in each of 50 teams; owner ⊃ manager ⊃ viewer ⊃ $read_members (plus $update_team at the
middle level). Measured with the user's access token, as the SDK sends them:
- one team:  GET /team-permissions?team_id=…&user_id=me&recursive=true  (what `user.hasPermission(team, id)` does);
- all teams: GET /team-permissions?user_id=me&recursive=true            (every team's expanded set at once);
- guarded write: PATCH /teams/{id} as a client, which must pass the recursive `$update_team` check first.
"""
from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import start_emulator  # noqa: E402

TEAMS = 50
ROUNDS = 300
CONFIG = {
    "auth": {"password": {"allowSignIn": True}},
    "rbac": {"permissions": {
        "viewer": {"scope": "team", "containedPermissionIds": {"$read_members": True}},
        "manager": {"scope": "team", "containedPermissionIds": {"viewer": True, "$update_team": True}},
        "owner": {"scope": "team", "containedPermissionIds": {"manager": True, "$delete_team": True}},
    }},
}
TARGETS = {"one_team_median_ms": 5.0, "all_teams_median_ms": 15.0, "guarded_patch_median_ms": 10.0}


class Api:
    def __init__(self, emu, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=20)
        self.headers = {"content-type": "application/json", "x-stack-project-id": emu.project_id, **headers}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict]:
        self.conn.request(method, "/api/v1" + path, json.dumps(body) if body is not None else None, self.headers)
        response = self.conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}


def timed(api: Api, method: str, path: str, body: dict | None = None) -> list[float]:
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        status, _ = api.call(method, path, body)
        times.append((time.perf_counter() - start) * 1000)
        if status != 200:
            raise SystemExit(f"{method} {path} answered {status}")
    return times


def main() -> None:
    config_path = Path(tempfile.mkdtemp(prefix="hexclave-bench-")) / "hexclave.config.py"
    config_path.write_text(f"config = {CONFIG!r}\n")
    emu = start_emulator(config=config_path)
    try:
        server = Api(emu, {"x-stack-access-type": "server", "x-stack-secret-server-key": emu.ssk})
        status, tokens = server.call("POST", "/auth/password/sign-up",
                                     {"email": f"bench-{time.time_ns()}@example.com", "password": "bench-password-1"})
        assert status == 200, tokens
        user_id = tokens["user_id"]
        team_ids = []
        for i in range(TEAMS):
            status, team = server.call("POST", "/teams", {"display_name": f"Bench team {i}", "creator_user_id": user_id})
            assert status == 201, team
            status, body = server.call("POST", f"/team-permissions/{team['id']}/{user_id}/owner", {})
            assert status == 201, body
            team_ids.append(team["id"])
        client = Api(emu, {"x-stack-access-type": "client", "x-stack-publishable-client-key": emu.pck,
                           "x-stack-access-token": tokens["access_token"]})
        status, listing = client.call("GET", "/team-permissions?user_id=me&recursive=true")
        assert status == 200 and len(listing["items"]) >= TEAMS * 8, (status, len(listing.get("items", [])))
        middle = team_ids[TEAMS // 2]
        figures = {
            "one_team_median_ms": timed(client, "GET", f"/team-permissions?team_id={middle}&user_id=me&recursive=true"),
            "all_teams_median_ms": timed(client, "GET", "/team-permissions?user_id=me&recursive=true"),
            "guarded_patch_median_ms": timed(client, "PATCH", f"/teams/{middle}", {"client_metadata": {"n": 1}}),
        }
    finally:
        emu.stop()
    print(f"permission benchmark: 1 user in {TEAMS} teams, 3-level tree, {ROUNDS} requests per figure "
          f"(all-teams answer: {len(listing['items'])} permissions)")
    for name, times in figures.items():
        median, p95 = statistics.median(times), sorted(times)[int(len(times) * 0.95) - 1]
        verdict = "ok" if median < TARGETS[name] else "MISSED"
        print(f"  {name:<26} {median:8.2f} ms  p95 {p95:8.2f} ms  target < {TARGETS[name]:g} ms  {verdict}")


if __name__ == "__main__":
    main()
