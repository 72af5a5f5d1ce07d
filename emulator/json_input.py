"""JSON that comes from outside (request bodies, tokens, cursors), read by the platform's rules and never a crash."""
from __future__ import annotations

import json
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # JavaScript's JSON.parse has no NaN / Infinity literals


def loads(data: str | bytes) -> Any:
    """JSON.parse: bad JSON, NaN / Infinity literals and nesting too deep to parse all raise ValueError."""
    try:
        return json.loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None
