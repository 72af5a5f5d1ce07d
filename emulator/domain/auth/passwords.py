"""Password hashes: real bcrypt, at a low cost by default so the emulator stays fast."""
from __future__ import annotations

import asyncio
import re
from contextvars import ContextVar

import bcrypt

from emulator.errors import E, StatusError

MIN_LENGTH, MAX_LENGTH = 8, 70
_BCRYPT = re.compile(r"^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$")


def _bytes(password: str) -> bytes:
    return password.encode()[:72]  # bcrypt reads at most 72 bytes


def hash_password(password: str, rounds: int) -> str:
    return bcrypt.hashpw(_bytes(password), bcrypt.gensalt(rounds)).decode()


# A hash started on a worker thread for the current request: (password, rounds, future).
_ahead: ContextVar[tuple[str, int, asyncio.Future] | None] = ContextVar("password_hash_ahead", default=None)


def hash_ahead(password: str, rounds: int) -> asyncio.Future:
    """Start hashing a password the request is about to store, on a worker thread, before the request waits for its
    database turn: bcrypt releases the GIL, so the other core hashes while this one serves the request's database
    work and other requests. `hash_password_soon` takes the result."""
    future = asyncio.get_running_loop().run_in_executor(None, hash_password, password, rounds)
    future.add_done_callback(lambda f: f.cancelled() or f.exception())  # a hash never taken is no error to log
    _ahead.set((password, rounds, future))
    return future


async def hash_password_soon(password: str, rounds: int) -> str:
    """hash_password, taking the hash `hash_ahead` started for this request if it was for this password."""
    ahead = _ahead.get()
    if ahead is not None and ahead[0] == password and ahead[1] == rounds:
        _ahead.set(None)
        return await ahead[2]
    return hash_password(password, rounds)


def verify_password(password: str, password_hash: str | None) -> bool:
    if not password_hash:
        return False
    try:
        return bcrypt.checkpw(_bytes(password), password_hash.encode())
    except ValueError:
        return False


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise E.password_too_short(MIN_LENGTH)
    if len(password) > MAX_LENGTH:
        raise E.password_too_long(MAX_LENGTH)


def check_imported_hash(password_hash: str) -> str:
    """A hash imported through the API must be bcrypt in Modular Crypt Format, at most 16 rounds."""
    match = _BCRYPT.match(password_hash)
    if not match or not 4 <= int(match.group(1)) <= 16:
        raise StatusError(400, "Invalid password hash. Make sure it's a supported algorithm in Modular Crypt Format.")
    return password_hash
