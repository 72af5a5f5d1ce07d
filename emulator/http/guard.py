"""Who may reach the emulator at all: an ASGI middleware in front of everything else.

A local tool is reachable from every web page its developer opens, so:
- the Host header must name loopback or a configured public host (a DNS-rebinding page names its own domain);
- a browser page from another site (an Origin other than loopback or a public host) may use the platform's client
  and server API, whose CORS the platform opens to all sites, but not admin access and not the emulator's own
  routes: the inbox (every OTP and reset link), the clock, local-emulator project loading, and the actions of the
  emulator's pages (OAuth sign-in, checkout). Requests the browser itself marks `Sec-Fetch-Site: same-origin` come
  from the emulator's own pages and pass;
- request bodies are limited to MAX_BODY_BYTES (413 beyond).
"""
from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

MAX_BODY_BYTES = 10 * 1024 * 1024
TOO_LARGE = 413, f"The request body is larger than the emulator accepts ({MAX_BODY_BYTES // 2**20} MB).\n"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The emulator's own API routes (under /api/v1 and /api/latest): its inbox, clock and other tools, the
# Inbucket-compatible mailbox, and the official emulator's project loading.
OWN_API_ROUTES = re.compile(r"^/api/(v1|latest)/(emulator|mailbox|internal/local-emulator)(/|$)")
ADMIN_HEADERS = (b"x-stack-super-secret-admin-key", b"x-hexclave-super-secret-admin-key",
                 b"x-stack-admin-access-token", b"x-hexclave-admin-access-token")
ACCESS_TYPE_HEADERS = (b"x-stack-access-type", b"x-hexclave-access-type")


def is_loopback_name(host: str) -> bool:
    host = host.strip("[]").lower().rstrip(".")  # "localhost." is localhost too
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(host_header: str) -> str:
    """The name in a Host header, without its port ("[::1]:80" -> "::1")."""
    return urlsplit(f"//{host_header}").hostname or ""


def guard_hosts(settings) -> tuple[str, ...]:
    """The public hosts of the settings, and the address the emulator binds when that is a specific one."""
    bound = () if settings.host in ("0.0.0.0", "::", "") else (settings.host,)
    public_url = (urlsplit(settings.public_url).hostname,) if settings.public_url else ()  # --public-url's host
    return (*settings.public_hosts, *bound, *public_url)


class RequestGuard:
    """Pure ASGI middleware; `public_hosts` are the names besides loopback the emulator is reached by."""

    def __init__(self, app, public_hosts: tuple[str, ...] = ()):
        self.app = app
        self.public_hosts = {h.lower().strip("[]") for h in public_hosts if h}
        self._host_headers: dict[bytes, bool] = {}

    def _known(self, host: str) -> bool:
        return is_loopback_name(host) or host.lower().rstrip(".") in self.public_hosts

    def _known_host_header(self, host: bytes) -> bool:
        """_known for a Host header, remembered: a client sends the same one on every request."""
        known = self._host_headers.get(host)
        if known is None:
            known = self._known(_host_name(host.decode("latin-1")))
            if len(self._host_headers) < 64:  # names seen; a flood of made-up ones is simply not remembered
                self._host_headers[host] = known
        return known

    def refusal(self, scope, headers: dict[bytes, bytes]) -> tuple[int, str] | None:
        host = headers.get(b"host")
        if host is not None and not self._known_host_header(host):
            return 403, (f"Host {host.decode('latin-1')!r} is not allowed: the emulator answers to loopback names "
                         "(localhost, 127.0.0.1, [::1]) and to the hosts in HEXCLAVE_PUBLIC_HOST.\n")
        length = headers.get(b"content-length", b"0")
        if length.isdigit() and int(length) > MAX_BODY_BYTES:
            return TOO_LARGE
        if headers.get(b"sec-fetch-site") in (b"same-origin", b"none"):
            return None  # the browser vouches: the emulator's own pages (whose no-referrer policy sends Origin: null)
        origin = headers.get(b"origin")
        if origin is None or self._known(urlsplit(origin.decode("latin-1")).hostname or ""):
            return None
        path, method = scope["path"], scope["method"]
        own_route = OWN_API_ROUTES.match(path) or (not path.startswith("/api/") and method not in SAFE_METHODS)
        admin = any(headers.get(h, b"").strip().lower() == b"admin" for h in ACCESS_TYPE_HEADERS) \
            or any(h in headers for h in ADMIN_HEADERS)
        if own_route or admin:
            what = "admin access" if admin and not own_route else "the emulator's own routes"
            return 403, (f"Pages from {origin.decode('latin-1')} may not use {what}: only pages on loopback "
                         "(localhost, 127.0.0.1) or a host in HEXCLAVE_PUBLIC_HOST may.\n")
        return None

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        refused = self.refusal(scope, headers)
        if refused is None and b"content-length" not in headers and scope["method"] not in SAFE_METHODS:
            receive, refused = await _bounded_body(receive)
        if refused is None:
            return await self.app(scope, receive, send)
        status, text = refused
        body = text.encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})


async def _bounded_body(receive):
    """A body sent without content-length (chunked), read here up to the limit and then replayed to the app."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return receive, None  # the client went away; the app sees that itself
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY_BYTES:
            return receive, TOO_LARGE
        if not message.get("more_body"):
            break
    replayed = False

    async def replay():
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

    return replay, None
