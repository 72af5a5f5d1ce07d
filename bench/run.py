"""Benchmark of the emulator: start-up time, memory, request latency and throughput.

Run from the repository root:  python bench/run.py

Not a test: it prints a table of figures (with the targets next to them) and writes
the same figures to bench/results.json, overwritten on each run. Everything talks to
127.0.0.1 only; every emulator it starts is stopped before it exits, also on error.
"""
from __future__ import annotations

import http.client
import json
import math
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results.json"
HOST = "127.0.0.1"

LAUNCHES = 5             # start-up timing launches
POLL_SECONDS = 0.005     # how often to poll GET /api/v1 while the emulator starts
START_DEADLINE = 30.0    # give up on a launch after this many seconds
SIGN_UPS = 200
USERS_ME = 1_000
RSS_AFTER_REQUESTS = 1_000
THREADS = 8
THROUGHPUT_SECONDS = 3.0
THROUGHPUT_CAP = 100_000  # per thread, so the loop is bounded whatever the speed
REQUEST_TIMEOUT = 10.0

TARGETS = {  # name: (limit, unit) -- a figure passes when it is below the limit
    "start_median_s": (1.0, "s"),
    "rss_after_start_mb": (120.0, "MB"),
    "rss_after_1000_requests_mb": (120.0, "MB"),
    "sign_up_median_ms": (15.0, "ms"),
    "users_me_median_ms": (3.0, "ms"),
}


class BenchError(RuntimeError):
    pass


# ---------------------------------------------------------------- helpers

def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports, found by binding port 0 (all held open until all are picked)."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def rss_mb(pid: int) -> float | None:
    """VmRSS of a process in MB (10^6 bytes), from /proc; None where /proc is missing."""
    return _proc_status_kb(pid, "VmRSS")


def hwm_mb(pid: int) -> float | None:
    """Peak RSS (VmHWM) in MB."""
    return _proc_status_kb(pid, "VmHWM")


def _proc_status_kb(pid: int, field: str) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        return None
    return None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time a process has used, from /proc/<pid>/stat."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------- the emulator process

class Emulator:
    """One `python -m emulator start --in-memory` child; stdout and stderr are drained in threads."""

    BANNER_END = "Press Ctrl+C to stop."

    def __init__(self) -> None:
        self.port, self.smtp_port = free_ports(2)
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.banner_done = threading.Event()
        self.proc: subprocess.Popen | None = None
        self.launched_at = 0.0
        self._threads: list[threading.Thread] = []

    def launch(self) -> None:
        cmd = [sys.executable, "-m", "emulator", "start", "--in-memory",
               "--port", str(self.port), "--smtp-port", str(self.smtp_port)]
        # Bytecode caching on, as for an installed package (pip compiles it): some machines (CI images) switch it off
        # with PYTHONDONTWRITEBYTECODE, and recompiling every module at each launch is not what users wait for.
        # The first launch writes the cache (__pycache__ is git-ignored); the median comes from the later ones.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        self.launched_at = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace", env=env)
        for stream, sink, watch in ((self.proc.stdout, self.stdout, True), (self.proc.stderr, self.stderr, False)):
            t = threading.Thread(target=self._drain, args=(stream, sink, watch), daemon=True)
            t.start()
            self._threads.append(t)

    def _drain(self, stream, sink: list[str], watch_banner: bool) -> None:
        for line in stream:  # ends at EOF, when the process exits
            sink.append(line.rstrip("\n"))
            if watch_banner and line.strip() == self.BANNER_END:
                self.banner_done.set()

    def wait_ready(self) -> float:
        """Poll GET /api/v1 every ~5 ms; return seconds from launch to the first 200."""
        deadline = self.launched_at + START_DEADLINE
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"emulator exited with {self.proc.returncode} before answering:\n{self.tail()}")
            conn = http.client.HTTPConnection(HOST, self.port, timeout=2.0)
            try:
                conn.request("GET", "/api/v1")
                resp = conn.getresponse()
                resp.read()
                if resp.status == 200:
                    return time.perf_counter() - self.launched_at
            except OSError:
                pass
            finally:
                conn.close()
            if time.perf_counter() > deadline:
                raise BenchError(f"no 200 from GET /api/v1 within {START_DEADLINE:.0f}s:\n{self.tail()}")
            time.sleep(POLL_SECONDS)

    def wait_banner(self) -> dict[str, str]:
        if not self.banner_done.wait(START_DEADLINE):
            raise BenchError(f"the banner never ended with {self.BANNER_END!r}:\n{self.tail()}")
        env = {}
        for line in list(self.stdout):
            name, sep, value = line.partition("=")
            if sep and name in ("HEXCLAVE_PROJECT_ID", "HEXCLAVE_PUBLISHABLE_CLIENT_KEY"):
                env[name] = value.strip()
        if len(env) != 2:
            raise BenchError(f"project id / publishable key missing from the banner:\n{self.tail()}")
        return env

    def stop(self) -> float | None:
        """Ctrl+C, then terminate, then kill; returns seconds the Ctrl+C stop took, None if it needed force."""
        if self.proc is None or self.proc.poll() is not None:
            self._join()
            return None
        began = time.perf_counter()
        graceful = None
        try:
            self.proc.send_signal(signal.SIGINT)
            self.proc.wait(timeout=10)
            graceful = time.perf_counter() - began
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._join()
        return graceful

    def _join(self) -> None:
        for t in self._threads:
            t.join(timeout=2)

    def tail(self, lines: int = 20) -> str:
        return "\n".join((self.stdout + self.stderr)[-lines:])

    @property
    def pid(self) -> int:
        return self.proc.pid


# ---------------------------------------------------------------- HTTP client pieces

class Client:
    """One keep-alive connection; every call checks the status and that the socket was reused."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.conn = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT)
        self.headers = headers
        self.reconnects = -1  # the first connect is not a reconnect
        self._sock = None

    def call(self, method: str, path: str, body: dict | None = None, extra: dict | None = None) -> tuple[float, bytes]:
        headers = dict(self.headers, **(extra or {}))
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["content-type"] = "application/json"
        t0 = time.perf_counter()
        self.conn.request(method, path, body=payload, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = time.perf_counter() - t0
        if self.conn.sock is not self._sock:
            self.reconnects += 1
            self._sock = self.conn.sock
        if not 200 <= resp.status < 300:
            raise BenchError(f"{method} {path} -> {resp.status}: {data[:300]!r}")
        return elapsed, data

    def close(self) -> None:
        self.conn.close()


def throughput(port: int, headers: list[dict[str, str]], pid: int) -> dict:
    """GET /users/me from THREADS keep-alive connections for ~THROUGHPUT_SECONDS."""
    barrier = threading.Barrier(THREADS + 1, timeout=30)
    counts = [0] * THREADS
    errors: list[str] = []
    reconnects = [0] * THREADS
    stop_at = [0.0]

    def worker(i: int) -> None:
        client = Client(port, headers[i % len(headers)])
        try:
            client.call("GET", "/api/v1/users/me")  # connect and warm up outside the window
            barrier.wait()
            n = 0
            while n < THROUGHPUT_CAP and time.perf_counter() < stop_at[0]:
                client.call("GET", "/api/v1/users/me")
                n += 1
            counts[i] = n
            reconnects[i] = client.reconnects
        except Exception as exc:  # noqa: BLE001 -- reported, and fails the run below
            errors.append(f"thread {i}: {exc!r}")
            if not barrier.broken:
                barrier.abort()
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        cpu0 = cpu_seconds(pid)
        stop_at[0] = time.perf_counter() + THROUGHPUT_SECONDS
        began = time.perf_counter()
        barrier.wait()
    except threading.BrokenBarrierError:
        pass
    for t in threads:
        t.join(timeout=THROUGHPUT_SECONDS + 2 * REQUEST_TIMEOUT)
    elapsed = time.perf_counter() - began
    cpu1 = cpu_seconds(pid)
    if errors:
        raise BenchError("throughput run failed: " + "; ".join(errors))
    total = sum(counts)
    return {
        "requests": total,
        "seconds": elapsed,
        "rps": total / elapsed,
        "threads": THREADS,
        "server_cpu_percent": None if cpu0 is None or cpu1 is None else 100 * (cpu1 - cpu0) / elapsed,
        "reconnects": sum(reconnects),
    }


# ---------------------------------------------------------------- the benchmark

def measure() -> dict:
    results: dict = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }

    # (1) start-up: launch -> first 200 from GET /api/v1, LAUNCHES times
    starts, stops = [], []
    for _ in range(LAUNCHES):
        emu = Emulator()
        try:
            emu.launch()
            starts.append(emu.wait_ready())
            emu.wait_banner()
        finally:
            stops.append(emu.stop())
    results["start_seconds"] = starts
    results["start_median_s"] = statistics.median(starts)
    results["start_max_s"] = max(starts)
    results["stop_seconds"] = stops

    # (2)-(4) on one more fresh emulator
    emu = Emulator()
    try:
        emu.launch()
        emu.wait_ready()
        env = emu.wait_banner()
        pid = emu.pid
        results["rss_after_start_mb"] = rss_mb(pid)
        base = {
            "x-stack-access-type": "client",
            "x-stack-project-id": env["HEXCLAVE_PROJECT_ID"],
            "x-stack-publishable-client-key": env["HEXCLAVE_PUBLISHABLE_CLIENT_KEY"],
        }
        done = 0

        def count_one() -> None:
            nonlocal done
            done += 1
            if done == RSS_AFTER_REQUESTS:  # read between requests, outside any timed window
                results["rss_after_1000_requests_mb"] = rss_mb(pid)

        client = Client(emu.port, base)
        try:
            # (3a) sign-ups
            run_id = uuid.uuid4().hex[:10]
            sign_up_times, tokens = [], []
            for i in range(SIGN_UPS):
                body = {"email": f"bench-{run_id}-{i}@example.com", "password": "password123"}
                elapsed, data = client.call("POST", "/api/v1/auth/password/sign-up", body)
                sign_up_times.append(elapsed)
                tokens.append(json.loads(data)["access_token"])
                count_one()

            # (3b) /users/me with the first sign-up's token
            me_headers = {"x-stack-access-token": tokens[0]}
            me_times = []
            for _ in range(USERS_ME):
                elapsed, _data = client.call("GET", "/api/v1/users/me", extra=me_headers)
                me_times.append(elapsed)
                count_one()
            reconnects = client.reconnects
        finally:
            client.close()

        results["sign_up_median_ms"] = statistics.median(sign_up_times) * 1e3
        results["sign_up_p95_ms"] = percentile(sign_up_times, 95) * 1e3
        results["sign_up_mean_ms"] = statistics.fmean(sign_up_times) * 1e3
        results["users_me_median_ms"] = statistics.median(me_times) * 1e3
        results["users_me_p95_ms"] = percentile(me_times, 95) * 1e3
        results["users_me_mean_ms"] = statistics.fmean(me_times) * 1e3
        results["sequential_reconnects"] = reconnects
        results["rss_after_latency_mb"] = rss_mb(pid)

        # (4) throughput, each thread with a different user's token
        per_thread = [dict(base, **{"x-stack-access-token": t}) for t in tokens[:THREADS]]
        tp = throughput(emu.port, per_thread, pid)
        results["throughput"] = tp
        results["users_me_rps"] = tp["rps"]
        results["rss_after_all_mb"] = rss_mb(pid)
        results["rss_peak_mb"] = hwm_mb(pid)
        results["requests_total"] = SIGN_UPS + USERS_ME + tp["requests"] + THREADS
    finally:
        emu.stop()
    return results


def fmt(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    return str(value)


def report(r: dict) -> str:
    tp = r["throughput"]
    rows = [
        ("start-up, launch -> first 200 (median)", r["start_median_s"], "s", "start_median_s"),
        (f"start-up (max of {LAUNCHES})", r["start_max_s"], "s", None),
        ("RSS after start", r["rss_after_start_mb"], "MB", "rss_after_start_mb"),
        (f"RSS after {RSS_AFTER_REQUESTS:,} requests", r["rss_after_1000_requests_mb"], "MB",
         "rss_after_1000_requests_mb"),
        (f"RSS at end ({r['requests_total']:,} requests)", r["rss_after_all_mb"], "MB", None),
        (f"sign-up median ({SIGN_UPS})", r["sign_up_median_ms"], "ms", "sign_up_median_ms"),
        ("sign-up p95", r["sign_up_p95_ms"], "ms", None),
        (f"GET /users/me median ({USERS_ME:,})", r["users_me_median_ms"], "ms", "users_me_median_ms"),
        ("GET /users/me p95", r["users_me_p95_ms"], "ms", None),
        (f"GET /users/me throughput ({THREADS} conns, {tp['seconds']:.1f} s)", r["users_me_rps"], "req/s", None),
    ]
    checks = {}
    lines = []
    width = max(len(r[0]) for r in rows)
    lines.append(f"{'metric':<{width}}  {'value':>14}  {'target':>10}")
    lines.append("-" * (width + 38))
    for label, value, unit, key in rows:
        target = ""
        if key:
            limit, tunit = TARGETS[key]
            ok = value is not None and value < limit
            checks[key] = ok
            target = f"< {limit:g} {tunit}  {'ok' if ok else 'MISSED'}"
        lines.append(f"{label:<{width}}  {fmt(value, unit):>14}  {target}")
    cpu = tp["server_cpu_percent"]
    lines.append("")
    lines.append(f"throughput: {tp['requests']:,} requests, server CPU {'n/a' if cpu is None else f'{cpu:.0f}%'}"
                 f" of one core; reconnects: sequential {r['sequential_reconnects']}, concurrent {tp['reconnects']}")
    r["targets_met"] = checks
    return "\n".join(lines)


def _rounded(value):
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # unwinds through the `finally` blocks, which stop the emulator


def main() -> int:
    signal.signal(signal.SIGTERM, _on_sigterm)
    if not (REPO / "emulator" / "__main__.py").is_file():
        print(f"cannot find the emulator package under {REPO}", file=sys.stderr)
        return 2
    try:
        results = measure()
    except (BenchError, OSError, http.client.HTTPException) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    table = report(results)
    results["targets"] = {k: {"below": v[0], "unit": v[1]} for k, v in TARGETS.items()}
    RESULTS.write_text(json.dumps(_rounded(results), indent=2) + "\n")
    print(table)
    print(f"\nwritten to {RESULTS.relative_to(REPO) if RESULTS.is_relative_to(REPO) else RESULTS}")
    return 0  # a benchmark, not a test: missed targets are shown in the table, not in the exit status


if __name__ == "__main__":
    sys.exit(main())
