"""The emulator's one clock. Every time-dependent rule (tokens, codes, outbox schedules, subscriptions, item expiry)
reads it, so a test can move time forward (`POST /api/v1/emulator/clock/advance`, `hexclave-emulator clock advance`)
and see a year of renewals in a second. The offset is kept in the data file, so time never runs backwards across
a restart."""
from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

_offset_seconds = 0.0

# Called with the server state after each advance (e.g. payments renews the subscriptions that fell due), each
# opening its own store session; registered at import time by the domain modules that need them.
after_advance: list[Callable[[Any], Awaitable[None]]] = []


def now_seconds() -> float:
    return time.time() + _offset_seconds


def now_millis() -> int:
    return int(now_seconds() * 1000)


def now() -> datetime:
    return datetime.fromtimestamp(now_seconds(), timezone.utc)


def offset_seconds() -> float:
    return _offset_seconds


def set_offset(seconds: float) -> None:
    """Restore the offset read from the data file (start-up), or set it after an advance."""
    global _offset_seconds
    _offset_seconds = float(seconds)


async def run_after_advance(state: Any) -> None:
    for hook in after_advance:
        await hook(state)


def iso_from_millis(millis: int) -> str:
    """A wire timestamp as JavaScript's Date.toISOString() writes it: UTC, milliseconds, `Z`."""
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
