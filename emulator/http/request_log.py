"""The request log: every API request (not the emulator's own /emulator routes) with its answer, kept in memory
for the Requests page and GET /api/v1/emulator/requests, and printed one line each with --log-requests."""
from __future__ import annotations

import itertools
import json
import time
from collections import deque
from datetime import datetime, timezone

KEEP = 500  # requests remembered
BODY_LIMIT = 16 * 1024  # bytes of each body kept (500 entries stay within a few MB)
OWN_ROUTES = ("/api/v1/emulator/", "/api/latest/emulator/")


class RequestLog:
    def __init__(self, print_format: str | None = None) -> None:
        self.entries: deque[dict] = deque(maxlen=KEEP)
        self.print_format = print_format  # None, "text" or "json"
        self._ids = itertools.count(1)

    def add(self, record: "Record") -> None:
        record.id = next(self._ids)
        self.entries.append(record)
        if self.print_format == "json":
            print(json.dumps({k: v for k, v in record.entry().items() if k not in ("request", "response")}), flush=True)
        elif self.print_format == "text":
            print(text_line(record.entry()), flush=True)

    def select(self, *, project_id: str | None = None, status: str | None = None, path: str | None = None,
               limit: int = 100) -> list[dict]:
        """Newest first. `status`: "404", or a class like "4xx"; `path`: a part of the path."""
        found = []
        for record in reversed(self.entries):
            entry = record.entry()
            if project_id and entry["project_id"] != project_id:
                continue
            if status and not (str(entry["status"]) == status or
                               (len(status) == 3 and status[1:].lower() == "xx" and str(entry["status"])[0] == status[0])):
                continue
            if path and path.lower() not in entry["path"].lower():
                continue
            found.append(entry)
            if len(found) >= limit:
                break
        return found


def text_line(entry: dict) -> str:
    parts = [entry["time"][11:23], entry["method"], entry["path"] + (f"?{entry['query']}" if entry["query"] else ""),
             str(entry["status"]), f"{entry['duration_ms']:.1f}ms"]
    if entry["project_id"]:
        parts.append(f"project={entry['project_id']}")
    if entry["access_type"]:
        parts.append(entry["access_type"])
    if entry["known_error"]:
        parts.append(entry["known_error"])
    return " ".join(parts)


def _clip(chunks: list[bytes]) -> tuple[bytes, int]:
    """The first BODY_LIMIT bytes of a body, and its whole length (one captured chunk may be far larger)."""
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return raw[:BODY_LIMIT], len(raw)


def _body(clip: tuple[bytes, int]) -> str:
    raw, size = clip
    text = raw.decode("utf-8", errors="replace")
    return text + (f"\n… ({size - BODY_LIMIT} more bytes)" if size > BODY_LIMIT else "")


def _headers(raw) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


class Record:
    """One logged request as it was captured; turned into its entry (a dict of text) only when read or printed,
    since most entries are never read."""
    __slots__ = ("id", "ended", "method", "path", "query", "status", "duration", "request_headers", "request_body",
                 "response_headers", "response_body", "_entry")

    def __init__(self, ended: float, method: str, path: str, query: bytes, status: int, duration: float,
                 request_headers, request_chunks: list[bytes], response_headers, response_chunks: list[bytes]) -> None:
        self.id = 0
        self.ended, self.method, self.path, self.query, self.status, self.duration = \
            ended, method, path, query, status, duration
        self.request_headers, self.request_body = request_headers, _clip(request_chunks)
        self.response_headers, self.response_body = response_headers, _clip(response_chunks)
        self._entry: dict | None = None

    def entry(self) -> dict:
        if self._entry is None:
            headers, answer = _headers(self.request_headers), _headers(self.response_headers)

            def header(name: str) -> str | None:
                return headers.get(f"x-stack-{name}") or headers.get(f"x-hexclave-{name}")

            self._entry = {
                "time": datetime.fromtimestamp(self.ended, timezone.utc).isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "method": self.method, "path": self.path, "query": self.query.decode("latin-1"),
                "status": self.status, "duration_ms": round(self.duration * 1000, 2),
                "project_id": header("project-id"), "access_type": header("access-type"),
                "known_error": answer.get("x-stack-known-error"),
                "request": {"headers": headers, "body": _body(self.request_body)},
                "response": {"headers": answer, "body": _body(self.response_body)},
                "id": self.id,
            }
        return self._entry


class RequestLogMiddleware:
    """Pure ASGI middleware recording API requests into the app's RequestLog (inside the CORS envelope, so it sees
    the actual status and known-error code)."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith("/api/") or path.startswith(OWN_ROUTES):
            return await self.app(scope, receive, send)
        log: RequestLog = scope["app"].state.emu.request_log
        started = time.perf_counter()
        request_chunks: list[bytes] = []
        response_chunks: list[bytes] = []
        answer: list = [500, ()]  # status, raw headers

        async def receive_logged():
            message = await receive()
            if message["type"] == "http.request" and sum(map(len, request_chunks)) <= BODY_LIMIT:
                request_chunks.append(message.get("body", b""))
            return message

        async def send_logged(message):
            if message["type"] == "http.response.start":
                answer[0], answer[1] = message["status"], message.get("headers", ())
            elif message["type"] == "http.response.body" and sum(map(len, response_chunks)) <= BODY_LIMIT:
                response_chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_logged, send_logged)
        finally:
            log.add(Record(time.time(), scope["method"], path, scope.get("query_string", b""), answer[0],
                           time.perf_counter() - started, scope["headers"], request_chunks, answer[1],
                           response_chunks))
