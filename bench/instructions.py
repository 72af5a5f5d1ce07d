"""Instructions per request, counted by valgrind's callgrind: the same figure run after run, whatever else the
machine does (wall-clock figures on a shared 2-core VM vary by ±25 % between runs).

    apt-get install valgrind
    python bench/instructions.py        # from the repository root; takes ~4 min

Runs, each under callgrind with counting off until the load starts: the emulator (password sign-ups, then
`GET /users/me`), the floor (bench/floor.py, its three ways of writing rows) and the bare stack; and bcrypt alone at
the emulator's cost, so the table can show each sign-up without its hash (which runs on a worker thread). The counts
cover every thread of the process. Not a test: it prints a table; nothing is written.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import BareStack, BenchError, Client, Emulator, Floor, client_headers, sign_up_body  # noqa: E402

from emulator.settings import Settings  # noqa: E402

VALGRIND = shutil.which("valgrind")
CONTROL = shutil.which("callgrind_control")
WARM, COUNTED = 20, 40   # sign-ups: before counting, counted
WARM_GET, COUNTED_GET = 50, 200
COLLECTED = re.compile(r"Collected : (\d+)")


class Counted:
    """Mixed into a bench/run.py server: launched under callgrind, counting only between on() and off()."""

    start_deadline = 300.0  # ~30x slower under valgrind

    def command(self) -> list[str]:
        out = Path(tempfile.gettempdir()) / f"hexclave-callgrind-{uuid.uuid4().hex}.%p"
        return [VALGRIND, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                *super().command()]

    def count(self, work) -> int:
        """Instructions the process runs during work()."""
        subprocess.run([CONTROL, "-i", "on", str(self.pid)], check=True, capture_output=True)
        work()
        subprocess.run([CONTROL, "-i", "off", str(self.pid)], check=True, capture_output=True)
        self.stop()
        for line in reversed(self.stderr):
            found = COLLECTED.search(line)
            if found:
                for dump in Path(tempfile.gettempdir()).glob("hexclave-callgrind-*"):
                    dump.unlink(missing_ok=True)
                return int(found[1])
        raise BenchError(f"callgrind printed no count:\n{self.tail()}")


class CountedEmulator(Counted, Emulator):
    pass


class CountedFloor(Counted, Floor):
    pass


class CountedBare(Counted, BareStack):
    pass


def sign_ups(client: Client, path: str, run_id: str, first: int, count: int) -> None:
    for i in range(first, first + count):
        client.call("POST", path, sign_up_body(run_id, i))


def emulator_counts() -> tuple[int, int]:
    """(per sign-up, per cached GET /users/me)."""
    per_request = []
    for kind in ("sign-up", "users/me"):
        emu = CountedEmulator()
        try:
            emu.launch()
            emu.wait_ready()
            client = Client(emu.port, client_headers(emu.wait_banner()))
            run_id = uuid.uuid4().hex[:10]
            sign_ups(client, "/api/v1/auth/password/sign-up", run_id, 0, WARM)
            if kind == "sign-up":
                total = emu.count(lambda: sign_ups(client, "/api/v1/auth/password/sign-up", run_id, WARM, COUNTED))
                per_request.append(total // COUNTED)
                continue
            token = json.loads(client.call("POST", "/api/v1/auth/password/sign-in", sign_up_body(run_id, 0))[1])
            me = {"x-stack-access-token": token["access_token"]}
            for _ in range(WARM_GET):
                client.call("GET", "/api/v1/users/me", extra=me)
            total = emu.count(lambda: [client.call("GET", "/api/v1/users/me", extra=me) for _ in range(COUNTED_GET)])
            per_request.append(total // COUNTED_GET)
        finally:
            emu.stop()
    return per_request[0], per_request[1]


def floor_count(mode: str) -> int:
    floor = CountedFloor(mode)
    try:
        floor.launch()
        floor.wait_ready()
        client = Client(floor.port, {})
        run_id = uuid.uuid4().hex[:10]
        sign_ups(client, "/", run_id, 0, WARM)
        return floor.count(lambda: sign_ups(client, "/", run_id, WARM, COUNTED)) // COUNTED
    finally:
        floor.stop()


def bare_count() -> int:
    bare = CountedBare()
    try:
        bare.launch()
        bare.wait_ready()
        client = Client(bare.port, {})
        for _ in range(WARM_GET):
            client.call("GET", "/")
        return bare.count(lambda: [client.call("GET", "/") for _ in range(COUNTED_GET)]) // COUNTED_GET
    finally:
        bare.stop()


def bcrypt_count() -> int:
    """One hash at the emulator's cost: the difference between a script hashing 50 times and one hashing none."""
    script = ("import sys, bcrypt\nfor _ in range(int(sys.argv[1])): "
              f"bcrypt.hashpw(b'password123', bcrypt.gensalt({Settings().bcrypt_rounds}))\n")
    totals = []
    with tempfile.TemporaryDirectory() as scratch:
        for hashes in (0, 50):
            done = subprocess.run([VALGRIND, "--tool=callgrind", f"--callgrind-out-file={scratch}/out",
                                   sys.executable, "-c", script, str(hashes)], capture_output=True, text=True)
            totals.append(int(COLLECTED.search(done.stderr)[1]))
    return (totals[1] - totals[0]) // 50


def main() -> int:
    if not (VALGRIND and CONTROL):
        print("valgrind is needed: apt-get install valgrind", file=sys.stderr)
        return 2
    try:
        sign_up, users_me = emulator_counts()
        floors = {mode: floor_count(mode) for mode in ("orm", "core", "driver")}
        bare = bare_count()
        bcrypt = bcrypt_count()
    except (BenchError, OSError) as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    rows = [("emulator: password sign-up", sign_up, True),
            *((f"floor ({mode}): password sign-up", count, True) for mode, count in floors.items()),
            ("bcrypt alone, one hash", bcrypt, False),
            ("emulator: GET /users/me (cached render)", users_me, False),
            ("bare stack: GET / (fixed JSON)", bare, False)]
    print(f"{'instructions per request (millions)':<42} {'all':>7} {'without bcrypt':>15}")
    for label, count, hashes in rows:
        print(f"{label:<42} {count / 1e6:>7.2f} {f'{(count - bcrypt) / 1e6:.2f}' if hashes else '':>15}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
