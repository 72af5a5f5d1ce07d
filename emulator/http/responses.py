"""Response helpers: compact JSON for data, the known-error format, plain-text status errors."""
from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from emulator.errors import KnownError, StatusError

JSON_TYPE = "application/json; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None, *,
                  pretty: bool = False) -> Response:
    """Compact JSON; indented for browsers (requests that accept text/html), as the platform does."""
    body = json.dumps(data, indent=2 if pretty else None, separators=None if pretty else (",", ":"),
                      ensure_ascii=False)
    return Response(body, status, headers=headers, media_type=JSON_TYPE)


def text_response(text: str, status: int = 200) -> Response:
    return Response(text, status, media_type=TEXT_TYPE)


def success() -> Response:
    return json_response({"success": True})


def error_response(error: StatusError) -> Response:
    if isinstance(error, KnownError):
        body = json.dumps(error.body(), indent=2, ensure_ascii=False)
        return Response(body, error.status, media_type=JSON_TYPE,
                        headers={"x-stack-known-error": error.code, "x-hexclave-known-error": error.code})
    return text_response(error.message, error.status)
