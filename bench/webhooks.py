"""Benchmark of webhook delivery: the time from sending a request that creates a user to the moment the receiver
has the signed user.created delivery.

Run from the repository root:  python bench/webhooks.py

Not a test: it prints the figures with their targets and always exits 0 when the run completes. It starts its own
emulator (in memory, free loopback ports) and a receiver on a free loopback port, and stops both before exiting.

- latency: 100 times, POST /api/v1/users (server access, one keep-alive connection); the time from the start of
  the request to the receiver reading the delivery's body (median, p95, max). Every delivery is checked with the
  official `svix` package.
"""
from __future__ import annotations

import http.client
import json
import queue
import statistics
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from svix.webhooks import Webhook

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import INTERNAL_SAK, INTERNAL_SSK, start_emulator  # noqa: E402

ROUNDS = 100
WARM_UP = 5
TARGETS = {"create_to_delivery_median_ms": (30.0, "ms", "<")}


def call(conn: http.client.HTTPConnection, method: str, path: str, body: dict, headers: dict) -> dict:
    conn.request(method, "/api/v1" + path, json.dumps(body), {"content-type": "application/json", **headers})
    response = conn.getresponse()
    data = response.read()
    if response.status >= 300:
        raise RuntimeError(f"{method} {path}: {response.status} {data[:300]!r}")
    return json.loads(data)


def main() -> None:
    arrivals: queue.Queue = queue.Queue()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            body = self.rfile.read(int(self.headers["content-length"]))
            arrivals.put((time.perf_counter(), dict(self.headers), body))
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    emu = start_emulator()
    try:
        conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=20)
        internal = {"x-stack-project-id": "internal"}
        admin = {**internal, "x-stack-access-type": "admin", "x-stack-super-secret-admin-key": INTERNAL_SAK}
        server = {**internal, "x-stack-access-type": "server", "x-stack-secret-server-key": INTERNAL_SSK}
        token = call(conn, "POST", "/webhooks/svix-token", {}, admin)["token"]
        endpoint = call(conn, "POST", "/app/internal/endpoint",
                        {"url": f"http://127.0.0.1:{receiver.server_port}/hook",
                         "filterTypes": ["user.created"]}, {"authorization": f"Bearer {token}"})
        conn.request("GET", f"/api/v1/app/internal/endpoint/{endpoint['id']}/secret",
                     headers={"authorization": f"Bearer {token}"})
        secret = json.loads(conn.getresponse().read())["key"]
        delays = []
        for i in range(WARM_UP + ROUNDS):
            started = time.perf_counter()
            user = call(conn, "POST", "/users", {"primary_email": f"bench-{uuid.uuid4().hex[:10]}@example.com"},
                        server)
            arrived, headers, body = arrivals.get(timeout=20)
            Webhook(secret).verify(body, headers)
            if json.loads(body)["data"]["id"] != user["id"]:
                raise RuntimeError(f"round {i}: the delivery is of another user")
            if i >= WARM_UP:
                delays.append((arrived - started) * 1000)
    finally:
        emu.stop()
        receiver.shutdown()
    delays.sort()
    figures = {"create_to_delivery_median_ms": statistics.median(delays)}
    print(f"webhook benchmark ({ROUNDS} user creations, each to its verified user.created delivery)")
    for name, value in figures.items():
        limit, unit, sense = TARGETS[name]
        ok = value < limit
        print(f"  {name:<30} {value:8.1f} {unit:<3} target {sense} {limit:g} {unit}  {'ok' if ok else 'MISSED'}")
    print(f"  {'create_to_delivery_p95_ms':<30} {delays[int(len(delays) * 0.95) - 1]:8.1f} ms")
    print(f"  {'create_to_delivery_max_ms':<30} {delays[-1]:8.1f} ms")


if __name__ == "__main__":
    main()
