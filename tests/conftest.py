import uuid

import pytest

from support import start_emulator


@pytest.fixture(scope="session")
def emu():
    """One emulator for the whole run, on the fixture config, with an in-memory store."""
    e = start_emulator()
    yield e
    e.stop()


@pytest.fixture
def email():
    return f"user-{uuid.uuid4().hex[:12]}@example.com"
