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

    def add(self, entry: dict) -> None:
        entry["id"] = next(self._ids)
        self.entries.append(entry)
        if self.print_format == "json":
            print(json.dumps({k: v for k, v in entry.items() if k not in ("request", "response")}), flush=True)
        elif self.print_format == "text":
            print(text_line(entry), flush=True)

    def select(self, *, project_id: str | None = None, status: str | None = None, path: str | None = None,
               limit: int = 100) -> list[dict]:
        """Newest first. `status`: "404", or a class like "4xx"; `path`: a part of the path."""
        found = []
        for entry in reversed(self.entries):
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


def _body(chunks: list[bytes]) -> str:
    raw = b"".join(chunks)
    text = raw[:BODY_LIMIT].decode("utf-8", errors="replace")
    return text + (f"\n… ({len(raw) - BODY_LIMIT} more bytes)" if len(raw) > BODY_LIMIT else "")


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
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_chunks: list[bytes] = []
        response_chunks: list[bytes] = []
        answer: dict = {"status": 500, "headers": {}}

        async def receive_logged():
            message = await receive()
            if message["type"] == "http.request" and sum(map(len, request_chunks)) <= BODY_LIMIT:
                request_chunks.append(message.get("body", b""))
            return message

        async def send_logged(message):
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = {k.decode("latin-1").lower(): v.decode("latin-1")
                                     for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body" and sum(map(len, response_chunks)) <= BODY_LIMIT:
                response_chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive_logged, send_logged)
        finally:
            def header(name: str) -> str | None:
                return headers.get(f"x-stack-{name}") or headers.get(f"x-hexclave-{name}")

            log.add({
                "time": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "method": scope["method"], "path": path, "query": scope.get("query_string", b"").decode("latin-1"),
                "status": answer["status"], "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                "project_id": header("project-id"), "access_type": header("access-type"),
                "known_error": answer["headers"].get("x-stack-known-error"),
                "request": {"headers": headers, "body": _body(request_chunks)},
                "response": {"headers": answer["headers"], "body": _body(response_chunks)},
            })
