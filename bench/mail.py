"""Benchmark of the mail catcher: SMTP ingest rate and the delay from SMTP send to the wait API's answer.

Run from the repository root:  python bench/mail.py

Not a test: it prints the figures with their targets and always exits 0 when the run completes. It starts its own
emulator (in memory, free loopback ports) and stops it before exiting, also on error.

- ingest: 1,000 small messages sent over ONE SMTP connection (messages/second, wall clock, until the last is
  stored and visible through the API);
- latency: 50 times, a GET /emulator/inbox/wait is pending, then one message is sent; the time from the start of
  the SMTP send to the wait's 200 answer (median and max).
"""
from __future__ import annotations

import http.client
import json
import smtplib
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from support import start_emulator  # noqa: E402

INGEST_MESSAGES = 1_000
LATENCY_ROUNDS = 50
TIMEOUT = 20.0
TARGETS = {"ingest_msgs_per_s": (300.0, "msg/s", "≥"), "wait_latency_median_ms": (50.0, "ms", "<")}


def small_message(to: str, subject: str) -> bytes:
    return (f"From: Bench <bench@example.com>\r\nTo: {to}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{uuid.uuid4().hex}@bench.example>\r\n\r\n"
            f"Hello from the benchmark. Your code is A1B2C3. https://app.example/cb?code=x{subject[-4:]}\r\n").encode()


def get_json(port: int, path: str, params: dict) -> tuple[int, dict | str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=TIMEOUT + 70)
    try:
        conn.request("GET", f"/api/v1{path}?{urlencode(params)}")
        response = conn.getresponse()
        body = response.read().decode()
        return response.status, (json.loads(body) if response.status == 200 else body)
    finally:
        conn.close()


def bench_ingest(emu) -> float:
    to = f"ingest-{uuid.uuid4().hex[:8]}@example.com"
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", emu.smtp_port, timeout=TIMEOUT) as s:
        for i in range(INGEST_MESSAGES):
            s.sendmail("bench@example.com", [to], small_message(to, f"ingest {i:04d}"))
    status, body = get_json(emu.port, "/emulator/inbox/wait",
                            {"to": to, "subject": f"ingest {INGEST_MESSAGES - 1:04d}", "since": 0, "timeout": 10})
    elapsed = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"the last ingested message was not found: {status} {body}")
    return INGEST_MESSAGES / elapsed


def bench_latency(emu) -> list[float]:
    to = f"latency-{uuid.uuid4().hex[:8]}@example.com"
    delays = []
    with smtplib.SMTP("127.0.0.1", emu.smtp_port, timeout=TIMEOUT) as s:
        for i in range(LATENCY_ROUNDS):
            subject = f"latency {i:03d}"
            result: dict = {}
            since = int(time.time() * 1000) - 1  # explicit: a message that beats the wait's start still counts

            def wait() -> None:
                result["reply"] = get_json(emu.port, "/emulator/inbox/wait",
                                           {"to": to, "subject": subject, "since": since, "timeout": TIMEOUT})
                result["done"] = time.perf_counter()

            waiter = threading.Thread(target=wait, daemon=True)
            waiter.start()
            time.sleep(0.02)  # let the wait reach the server and start waiting
            sent = time.perf_counter()
            s.sendmail("bench@example.com", [to], small_message(to, subject))
            waiter.join(TIMEOUT + 5)
            status, body = result.get("reply", (0, "no answer"))
            if status != 200 or body["subject"] != subject:
                raise RuntimeError(f"wait round {i} failed: {status} {body}")
            delays.append((result["done"] - sent) * 1000)
    return delays


def main() -> None:
    emu = start_emulator()
    try:
        rate = bench_ingest(emu)
        delays = bench_latency(emu)
    finally:
        emu.stop()
    figures = {"ingest_msgs_per_s": rate, "wait_latency_median_ms": statistics.median(delays)}
    print(f"mail catcher benchmark ({INGEST_MESSAGES} messages over one SMTP connection; {LATENCY_ROUNDS} waits)")
    for name, value in figures.items():
        limit, unit, sense = TARGETS[name]
        ok = value >= limit if sense == "≥" else value < limit
        print(f"  {name:<26} {value:10.1f} {unit:<6} target {sense} {limit:g} {unit}  {'ok' if ok else 'MISSED'}")
    print(f"  {'wait_latency_max_ms':<26} {max(delays):10.1f} ms")


if __name__ == "__main__":
    main()
