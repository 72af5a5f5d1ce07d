"""Response helpers: compact JSON for data, the known-error format, plain-text status errors."""
from __future__ import annotations

import json
import time
from email.utils import formatdate
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
                        headers={"x-stack-known-error": error.code})
    return text_response(error.message, error.status)


def set_cookie(response: Response, name: str, value: str, max_age: int) -> None:
    """A host-only, HttpOnly cookie written in the platform's attribute order (Path, Expires, Max-Age, HttpOnly),
    which clients that parse Set-Cookie strictly rely on. Expires is wall-clock time: browsers compare it to theirs."""
    expires = formatdate(time.time() + max_age, usegmt=True)
    response.headers.append("set-cookie", f"{name}={value}; Path=/; Expires={expires}; Max-Age={max_age}; HttpOnly")


def delete_cookie(response: Response, name: str) -> None:
    response.headers.append("set-cookie", f"{name}=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
