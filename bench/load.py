"""Load test: many concurrent clients doing what apps do, for a while.

Run from the repository root:  python bench/load.py [SECONDS] [CLIENTS]      (default 60 s, 50 clients)

Starts the emulator with a data file (WAL SQLite, as a developer runs it), then each client signs up once and loops
over a weighted mix: GET /users/me, PATCH /users/me, refresh the session, list users (server key), sign in, sign up
again, and send a mail over SMTP. Prints per operation the count, errors, p50 and p99 latency, and overall
throughput; then whether the emulator logged "database is locked" or a traceback. Not a test: figures depend on the
machine and on what else runs on it. The exit status is 1 when there was an error, else 0.
"""
from __future__ import annotations

import http.client
import json
import random
import smtplib
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import Emulator, start_emulator  # noqa: E402

MIX = [("users/me", 40), ("update", 15), ("refresh", 10), ("list", 10), ("sign-in", 10), ("smtp", 10),
       ("sign-up", 5)]
PASSWORD = "load-test-password-1"
TIMEOUT = 30.0


class Client:
    """One app user on one keep-alive connection."""

    def __init__(self, emu: Emulator):
        self.emu = emu
        self.http = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=TIMEOUT)
        self.email = ""
        self.access = self.refresh_token = ""

    def call(self, method: str, path: str, body: dict | None = None, *, access: str = "client",
             token: str | None = None, refresh: str | None = None) -> tuple[int, dict]:
        headers = {"x-stack-access-type": access, "x-stack-project-id": self.emu.project_id}
        if body is not None:
            headers["content-type"] = "application/json"
        headers["x-stack-publishable-client-key" if access == "client" else "x-stack-secret-server-key"] = \
            self.emu.pck if access == "client" else self.emu.ssk
        if token:
            headers["x-stack-access-token"] = token
        if refresh:
            headers["x-stack-refresh-token"] = refresh
        self.http.request(method, "/api/v1" + path, body=json.dumps(body) if body is not None else None,
                          headers=headers)
        response = self.http.getresponse()
        data = response.read()
        return response.status, (json.loads(data) if data.startswith(b"{") else {})

    def sign_up(self) -> bool:
        self.email = f"load-{uuid.uuid4().hex[:12]}@example.com"
        status, body = self.call("POST", "/auth/password/sign-up", {"email": self.email, "password": PASSWORD})
        if status == 200:
            self.access, self.refresh_token = body["access_token"], body["refresh_token"]
        return status == 200

    def run(self, name: str) -> bool:
        if name == "sign-up":
            return self.sign_up()
        if name == "sign-in":
            status, body = self.call("POST", "/auth/password/sign-in", {"email": self.email, "password": PASSWORD})
            if status == 200:
                self.access, self.refresh_token = body["access_token"], body["refresh_token"]
            return status == 200
        if name == "users/me":
            return self.call("GET", "/users/me", token=self.access)[0] == 200
        if name == "update":
            return self.call("PATCH", "/users/me", {"display_name": f"User {random.randrange(10**6)}"},
                             token=self.access)[0] == 200
        if name == "refresh":
            status, body = self.call("POST", "/auth/sessions/current/refresh", refresh=self.refresh_token)
            if status == 200:
                self.access = body["access_token"]
            return status == 200
        if name == "list":
            return self.call("GET", "/users?limit=20", access="server")[0] == 200
        if name == "smtp":
            with smtplib.SMTP("127.0.0.1", self.emu.smtp_port, timeout=TIMEOUT) as smtp:
                smtp.sendmail("app@example.com", [self.email],
                              f"From: app@example.com\r\nTo: {self.email}\r\nSubject: Load {uuid.uuid4().hex}\r\n\r\n"
                              "Your code is 123456.\r\n")
            return True
        raise ValueError(name)


def main() -> int:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    data_dir = Path(tempfile.mkdtemp(prefix="hexclave-load-"))
    emu = start_emulator("--data-dir", str(data_dir), in_memory=False, timeout=60)
    latencies: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, list[str]] = defaultdict(list)
    lock = threading.Lock()
    names, weights = zip(*MIX)
    deadline = time.monotonic() + seconds

    def user() -> None:
        client = Client(emu)
        first = True
        while time.monotonic() < deadline:
            name = "sign-up" if first else random.choices(names, weights)[0]
            first = False
            started = time.perf_counter()
            try:
                ok, problem = client.run(name), "unexpected status"
            except (OSError, http.client.HTTPException, smtplib.SMTPException) as exc:
                ok, problem = False, repr(exc)
                client.http.close()
            elapsed = time.perf_counter() - started
            with lock:
                latencies[name].append(elapsed)
                if not ok:
                    errors[name].append(problem)

    started = time.monotonic()
    try:
        threads = [threading.Thread(target=user) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(seconds + 2 * TIMEOUT)
        wall = time.monotonic() - started
    finally:
        emu.stop()
    total = sum(len(v) for v in latencies.values())
    print(f"{clients} clients for {wall:.0f} s: {total} operations, {total / wall:.0f} ops/s")
    print(f"{'operation':<10} {'count':>7} {'errors':>7} {'p50 ms':>8} {'p99 ms':>8}")
    for name, _ in MIX:
        values = sorted(latencies[name])
        if not values:
            continue
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        print(f"{name:<10} {len(values):>7} {len(errors[name]):>7} {statistics.median(values) * 1000:>8.1f} "
              f"{p99 * 1000:>8.1f}")
    for name, problems in errors.items():
        if problems:
            print(f"  {name} errors, e.g.: {problems[0]}")
    log = "".join(emu.output)
    locked, tracebacks = log.count("database is locked"), log.count("Traceback")
    print(f'"database is locked" in the log: {locked}; tracebacks: {tracebacks}')
    return 1 if any(errors.values()) or locked or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
