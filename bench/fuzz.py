"""Longer fuzzing than the test suite's: schemathesis through GET /api/v1/emulator/openapi.json, every operation at
every access level, valid and invalid data, EXAMPLES generated requests per operation and mode (default 50).

Run from the repository root:  python bench/fuzz.py [EXAMPLES]

Prints the number of operations and calls, the time taken, and every answer >= 500 (the goal is none; the
documented 501 NOT_SUPPORTED_BY_EMULATOR answers do not count). Exit status 1 when there was one.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from fuzz import FuzzReport, fuzz, start_fuzz_target  # noqa: E402


def main() -> int:
    examples = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    emu = start_fuzz_target()
    started = time.perf_counter()
    report = FuzzReport()
    try:
        fuzz(emu, examples, report)
    finally:
        emu.stop()
    seconds = time.perf_counter() - started
    print(f"{report.operations} operations, {report.calls} calls in {seconds:.0f} s "
          f"({report.calls / seconds:.0f} calls/s); answers >= 500: {len(report.server_errors)}")
    for line in report.server_errors:
        print(line)
    tracebacks = [line for line in emu.output if "Traceback" in line or "unexpected error" in line]
    print(f"tracebacks in the emulator's log: {len(tracebacks)}")
    return 1 if report.server_errors or tracebacks else 0


if __name__ == "__main__":
    sys.exit(main())
