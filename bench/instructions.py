"""Instructions per request, counted by valgrind's callgrind: nearly the same figure run after run, whatever else
the machine does (wall-clock figures on a shared 2-core VM vary by ±25 % between runs). The floor's counts repeat
to 0.2 %; the emulator's within ~4 %, as its background workers (outbox, webhooks, config watcher) run meanwhile.

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

from run import (BareStack, BenchError, Client, Emulator, Floor, client_headers, sign_up_body,  # noqa: E402
                 started)

from emulator.settings import Settings  # noqa: E402

VALGRIND = shutil.which("valgrind")
CONTROL = shutil.which("callgrind_control")
WARM, COUNTED = 20, 40   # sign-ups: before counting, counted
WARM_GET, COUNTED_GET = 50, 200
COLLECTED = re.compile(r"Collected : (\d+)")


class Counted:
    """Mixed into a bench/run.py server: launched under callgrind, counting only during count()."""

    start_deadline = 300.0  # ~30x slower under valgrind

    def command(self) -> list[str]:
        self.dumps = f"hexclave-callgrind-{uuid.uuid4().hex}"  # callgrind's output files, removed by count()
        out = Path(tempfile.gettempdir()) / f"{self.dumps}.%p"
        return [VALGRIND, "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}",
                *super().command()]

    def count(self, work, times: int) -> int:
        """Instructions per call of work(), run `times` times; stops the process to read callgrind's total."""
        subprocess.run([CONTROL, "-i", "on", str(self.pid)], check=True, capture_output=True)
        for _ in range(times):
            work()
        subprocess.run([CONTROL, "-i", "off", str(self.pid)], check=True, capture_output=True)
        self.stop()
        for dump in Path(tempfile.gettempdir()).glob(f"{self.dumps}.*"):
            dump.unlink(missing_ok=True)
        for line in reversed(self.stderr):
            found = COLLECTED.search(line)
            if found:
                return int(found[1]) // times
        raise BenchError(f"callgrind printed no count:\n{self.tail()}")


class CountedEmulator(Counted, Emulator):
    pass


class CountedFloor(Counted, Floor):
    pass


class CountedBare(Counted, BareStack):
    pass


SIGN_UP = "/api/v1/auth/password/sign-up"


def signing_up(client: Client, path: str):
    """A sign-up with a new e-mail at each call."""
    run_id, made = uuid.uuid4().hex[:10], iter(range(1_000_000))
    return lambda: client.call("POST", path, sign_up_body(run_id, next(made)))


def warmed(work, times: int):
    for _ in range(times):
        work()
    return work


def emulator_sign_up() -> int:
    with started(CountedEmulator()) as emu:
        sign_up = warmed(signing_up(Client(emu.port, client_headers(emu.wait_banner())), SIGN_UP), WARM)
        return emu.count(sign_up, COUNTED)


def emulator_users_me() -> int:
    """A cached GET /users/me of a signed-in user."""
    with started(CountedEmulator()) as emu:
        client = Client(emu.port, client_headers(emu.wait_banner()))
        warmed(signing_up(client, SIGN_UP), WARM)
        credentials = sign_up_body(uuid.uuid4().hex[:10], 0)
        client.call("POST", SIGN_UP, credentials)
        token = json.loads(client.call("POST", "/api/v1/auth/password/sign-in", credentials)[1])["access_token"]
        me = warmed(lambda: client.call("GET", "/api/v1/users/me", extra={"x-stack-access-token": token}), WARM_GET)
        return emu.count(me, COUNTED_GET)


def floor_count(mode: str) -> int:
    with started(CountedFloor(mode)) as floor:
        return floor.count(warmed(signing_up(Client(floor.port, {}), "/"), WARM), COUNTED)


def bare_count() -> int:
    with started(CountedBare()) as bare:
        client = Client(bare.port, {})
        return bare.count(warmed(lambda: client.call("GET", "/"), WARM_GET), COUNTED_GET)


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
        sign_up, users_me = emulator_sign_up(), emulator_users_me()
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
