"""The Starlette application: API routes under /api/v1 and /api/latest, CORS, request ids, error status override."""
from __future__ import annotations

import uuid

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette._utils import get_route_path
from starlette.routing import Mount, Route, Router

from emulator.http import openapi
from emulator.http.guard import RequestGuard, guard_hosts
from emulator.http.request_log import RequestLogMiddleware
from emulator.http.responses import text_response
from emulator.http.routes import api_keys, auth, contact_channels, emails, inbox, misc, pages, permissions, teams, users
from emulator.http.routes import team_invitations, team_member_profiles
from emulator.http.routes import oauth, oauth_sim, checkout
from emulator.http.routes import internal
from emulator.http.routes import internal_config, permission_definitions
from emulator.http.routes import clock, storage
from emulator.http.routes import payments, stripe_account
from emulator.http.routes import email_admin
from emulator.http.routes import browser_uploads, cli_auth, data_vault
from emulator.http.routes import dashboard
from emulator.http.routes import testkit
from emulator.http.routes import svix, webhooks
from emulator.http.routes import passkeys, sign_up_rules

API_PREFIXES = ("/api/v1", "/api/latest")

CORS_HEADERS = [
    (b"access-control-allow-origin", b"*"),
    (b"access-control-allow-methods", b"GET, POST, PUT, PATCH, DELETE, OPTIONS"),
    (b"access-control-max-age", b"86400"),
    (b"access-control-expose-headers",
     b"content-type, x-stack-actual-status, x-stack-known-error, x-stack-request-id, "
     b"x-hexclave-actual-status, x-hexclave-known-error, x-hexclave-request-id"),
]
PROTOCOL_HEADERS = ["project-id", "branch-id", "override-error-status", "random-nonce", "client-version",
                    "disable-artificial-development-delay", "development-disable-extended-logging", "access-type",
                    "publishable-client-key", "secret-server-key", "super-secret-admin-key", "admin-access-token",
                    "refresh-token", "access-token", "allow-anonymous-user", "allow-restricted-user",
                    "development-override-key"]
ALLOWED_HEADERS = ", ".join(["content-type", "authorization", "baggage", "sentry-trace", "x-vercel-protection-bypass",
                             "ngrok-skip-browser-warning"]
                            + [f"{p}-{h}" for p in ("x-stack", "x-hexclave") for h in PROTOCOL_HEADERS]).encode()


def api_routes() -> list:
    return [*misc.api.routes, *auth.api.routes, *users.api.routes, *contact_channels.api.routes, *inbox.api.routes,
            *emails.api.routes, *teams.api.routes, *permissions.api.routes, *oauth.api.routes,
            *api_keys.api.routes,
            *team_invitations.api.routes, *team_member_profiles.api.routes,
            *internal.api.routes,
            *internal_config.api.routes, *permission_definitions.api.routes, *clock.routes, *storage.routes,
            *payments.api.routes, *stripe_account.api.routes,
            *cli_auth.api.routes, *data_vault.api.routes, *browser_uploads.api.routes, *testkit.routes,
            *webhooks.api.routes, *webhooks.routes, *svix.routes, *passkeys.api.routes, *sign_up_rules.api.routes,
            *openapi.routes, *email_admin.api.routes]


class IndexedRouter(Router):
    """A Router that finds a route without path parameters by one dict lookup, where Starlette's Router tries the
    routes in turn (the API has hundreds; /users/me came after 29 others). Only routes that no earlier route could
    also take are indexed, so the route chosen is always the one the in-order search chooses; everything else
    (parameters, 405s, redirects, 404s) goes through that search as before."""

    def __init__(self, routes: list) -> None:
        super().__init__(routes=routes)
        self._static: dict[tuple[str, str], Route] = {}
        for i, route in enumerate(routes):
            if not isinstance(route, Route) or route.param_convertors or not route.methods:
                continue
            for method in route.methods:
                if (route.path, method) not in self._static and not any(
                        _may_take(earlier, route.path, method) for earlier in routes[:i]):
                    self._static[(route.path, method)] = route

    async def app(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            route = self._static.get((get_route_path(scope), scope["method"]))
            if route is not None:
                if "router" not in scope:
                    scope["router"] = self
                scope["route"] = route
                scope.update(route.matches(scope)[1])
                await route.handle(scope, receive, send)
                return
        await super().app(scope, receive, send)


def _may_take(route, path: str, method: str) -> bool:
    """Whether `route`, met first, would take the request (any route but a plain Route counts if its path matches)."""
    if not route.path_regex.match(path):
        return False
    return not isinstance(route, Route) or not route.methods or method in route.methods


def response_dialect(request_headers: dict[bytes, bytes]) -> bytes:
    """Protocol headers are answered in the dialect asked: x-hexclave-* when the request sent any, else x-stack-*
    (the platform's default)."""
    return b"x-hexclave-" if any(name.startswith(b"x-hexclave-") for name in request_headers) else b"x-stack-"


def in_dialect(headers: list, dialect: bytes) -> list:
    """Handlers name protocol headers x-stack-*; rename them for a request in the x-hexclave dialect."""
    if dialect == b"x-stack-":
        return headers
    return [(dialect + name[len(b"x-stack-"):] if name.lower().startswith(b"x-stack-") else name, value)
            for name, value in headers]


class ApiEnvelope:
    """Pure ASGI middleware: CORS and preflight on /api, request ids, no-store caching, override-error-status,
    protocol headers in the request's dialect."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        is_api = scope["path"] == "/api" or scope["path"].startswith("/api/")
        request_headers = dict(scope["headers"])
        if is_api and scope["method"] == "OPTIONS":
            requested = request_headers.get(b"access-control-request-headers", b"")
            allow = ALLOWED_HEADERS + (b", " + requested if requested else b"")
            headers = [*CORS_HEADERS, (b"access-control-allow-headers", allow), (b"vary", b"Access-Control-Request-Headers"),
                       (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        override = b"x-stack-override-error-status" in request_headers or \
            b"x-hexclave-override-error-status" in request_headers
        dialect = response_dialect(request_headers)
        request_id = uuid.uuid4().hex.encode()

        async def send_with_envelope(message):
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-stack-request-id", request_id))
                if is_api:
                    headers += CORS_HEADERS
                    headers.append((b"access-control-allow-headers", ALLOWED_HEADERS))
                    if not any(name.lower() == b"cache-control" for name, _ in headers):
                        headers.append((b"cache-control", b"no-store, max-age=0"))
                    if override and 400 <= status < 500:
                        headers.append((b"x-stack-actual-status", str(status).encode()))
                        status = 200
                message = {**message, "status": status, "headers": in_dialect(headers, dialect)}
            await send(message)

        await self.app(scope, receive, send_with_envelope)


async def http_error(request: Request, exc: HTTPException) -> Response:
    if exc.status_code == 405:
        return Response(b"", 405)
    if exc.status_code == 404:
        return text_response(
            "404 — this page does not exist in the Hexclave API (served by hexclave-emulator).\n\n"
            "Please see the API documentation at https://docs.hexclave.com.\n\n"
            f"URL: {request.url}", 404)
    return text_response(exc.detail or "", exc.status_code)


def create_app(state, extra_routes: list | None = None) -> Starlette:
    routes = api_routes()
    root = next(r for r in misc.api.routes if r.path == "/")
    app = Starlette(
        routes=[
            *[Route(prefix, root.endpoint, methods=["GET"]) for prefix in API_PREFIXES],
            *[Mount(prefix, app=IndexedRouter(routes)) for prefix in API_PREFIXES],
            *pages.routes,
            *dashboard.routes,
            *oauth_sim.routes,
            *checkout.routes,
            *webhooks.page_routes,
            *(extra_routes or []),
        ],
        exception_handlers={HTTPException: http_error},
    )
    app.router.redirect_slashes = False
    app.state.emu = state
    app.add_middleware(RequestLogMiddleware)  # inside the envelope: sees actual statuses, skips preflights
    app.add_middleware(ApiEnvelope)
    app.add_middleware(RequestGuard, public_hosts=guard_hosts(state.settings))  # outermost: refusals skip the envelope
    return app
