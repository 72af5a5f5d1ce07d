"""What a hexclave.config.py imports: `from emulator.config import define_config`."""
from __future__ import annotations

from typing import Any


def define_config(config: dict[str, Any] | str) -> dict[str, Any] | str:
    """Mark a dict as a Hexclave config (counterpart of defineHexclaveConfig). Validation happens on load."""
    return config
