"""Start-up's warm-up (emulator/warm_up.py) signs a user up and reads it back to warm the request paths, in a
transaction it rolls back: nothing of it may be stored, in memory or in a data file, and the store must work
normally right after the banner."""
from __future__ import annotations

import pytest

from support import start_emulator
from wire import call, ok, sign_up


def stored(emu) -> tuple[list, list]:
    users = ok(call(emu, "GET", "/users", access="server", params={"include_anonymous": "true"}))["items"]
    teams = ok(call(emu, "GET", "/teams", access="server"))["items"]
    return users, teams


@pytest.mark.parametrize("in_memory", [True, False])
def test_warm_up_leaves_nothing_behind(in_memory, tmp_path):
    args = () if in_memory else ("--data-dir", str(tmp_path))
    emu = start_emulator(*args, in_memory=in_memory)
    try:
        assert stored(emu) == ([], [])
        user = sign_up(emu)
        users, _ = stored(emu)
        assert [u["id"] for u in users] == [user["user_id"]]
    finally:
        emu.stop()
    if not in_memory:  # the data file, read by a new process: still only the real user
        emu = start_emulator("--data-dir", str(tmp_path), in_memory=False)
        try:
            users, _ = stored(emu)
            assert [u["id"] for u in users] == [user["user_id"]]
        finally:
            emu.stop()
