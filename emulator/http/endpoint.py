"""The endpoint wrapper every API route goes through: body parsing, auth, validation, a DB session, errors.

Order of work follows the reference: the body is parsed, then auth headers are checked, then the access type,
then `me` is resolved, then params/query/body are validated (all messages at once).
"""
from __future__ import annotations

import asyncio
import functools
import logging
import re
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable
from urllib.parse import parse_qsl

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import json_input
from emulator.errors import E, KnownError, StatusError
from emulator.http import validation as v
from emulator.http.auth import Auth, parse_auth
from emulator.http.responses import error_response, json_response
from emulator.store.engine import finish

log = logging.getLogger("hexclave.api")

ANY = ("client", "server", "admin")
SERVER = ("server", "admin")
ADMIN = ("admin",)


class UserIdOrMe(v.Uuid):
    """A user id field that also takes `me`, resolved to the signed-in user before validation."""

    def describe(self):
        return {"anyOf": [super().describe(), {"const": "me"}]}


@dataclass
class Ctx:
    request: Request
    db: AsyncSession
    auth: Auth | None
    body: Any = None
    query: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self):
        return self.request.app.state.emu

    @property
    def project(self):
        return self.auth.project

    @property
    def user(self):
        return self.auth.user if self.auth else None

    @property
    def request_country(self) -> str | None:
        """The client's country from the geo headers a CDN in front of the platform adds (the emulator trusts them)."""
        return self.request.headers.get("x-vercel-ip-country") or self.request.headers.get("cf-ipcountry") or None

    @property
    def is_client(self) -> bool:
        return self.auth.access_type == "client"

    def forbid_other_user(self, user_id: str | None, message: str, *, without_user: KnownError | None = None) -> None:
        """Client access may only act on the signed-in user (403 text otherwise); server access on anyone.
        `without_user` is the error for client access with no user at all, where a route answers one."""
        if self.is_client and self.user is None and without_user is not None:
            raise without_user
        if self.is_client and (self.user is None or user_id != self.user.id):
            raise StatusError(403, message)


# A lone surrogate can only arrive as a \u escape (UTF-8 cannot carry one); browsers make them by cutting text
# inside a surrogate pair. They cannot be stored or sent as UTF-8, so they become U+FFFD, as Node's UTF-8 encoding
# does on the platform (json.loads has already joined the valid pairs).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [without_lone_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {without_lone_surrogates(k): without_lone_surrogates(v) for k, v in value.items()}
    return value


async def parse_body(request: Request) -> Any:
    if request.method in ("GET", "HEAD"):
        return v.MISSING
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if not content_type:
        return v.MISSING
    if content_type == "application/octet-stream":
        return raw
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise E.body_parsing("Request body cannot be parsed as UTF-8") from None
    if content_type == "application/json":
        try:
            parsed = json_input.loads(text)
        except ValueError:
            raise E.body_parsing("Invalid JSON in request body") from None
        return without_lone_surrogates(parsed) if _SURROGATE_ESCAPE.search(text) else parsed
    if content_type == "application/x-www-form-urlencoded":
        return dict(parse_qsl(text, keep_blank_values=True))
    if content_type == "text/plain":
        return text
    raise E.body_parsing(f"Unknown content type in request body: {content_type}")


def _resolve_me(schema: v.Schema | None, values: Any, auth: Auth | None) -> None:
    if not isinstance(schema, v.Obj) or not isinstance(values, dict):
        return
    for name, sub in schema.fields.items():
        if isinstance(sub, UserIdOrMe) and values.get(name) == "me":
            if auth is None or auth.user is None:
                raise E.cannot_get_own_user_without_user()
            values[name] = auth.user.id


Handler = Callable[[Ctx], Awaitable[Response | dict | list]]


@dataclass(frozen=True)
class EndpointSpec:
    """What an API route declares, kept on its Route as `spec` for the OpenAPI document."""
    access: tuple[str, ...] | None
    body: v.Schema | Callable[[str | None], v.Schema] | None
    query: v.Schema
    params: v.Schema
    doc: str | None


def endpoint(path: str, method: str, *, access: tuple[str, ...] | None = ANY, body: v.Schema | None = None,
             query: v.Schema | None = None, params: v.Schema | None = None, user_required: bool = False,
             load_user: bool = True, ahead: Callable[[Any, Any], Any] | None = None) -> Callable[[Handler], Route]:
    """Declare an API route. `access=None` means the route works without project authentication.

    `load_user=False`: the signed-in user is not loaded into `ctx.user` (None); the handler reads what it needs
    through `ctx.auth.user_id`. Only for routes with no `me` field and no `user_required`.
    `ahead(raw_body, state)` starts work the request will likely need (on a worker thread) before it waits for its
    database turn, and returns its future (or None); it must not fail or answer: the request's checks all come after
    it, in their usual order.
    `body` is a schema, or a function of the access type giving one (client and server see different fields).
    `user_required` reports a missing signed-in user the way the reference's schemas do."""
    query = query or v.Obj({})
    params = params or v.Obj({})
    assert load_user or not (user_required or callable(body) or any(
        isinstance(f, UserIdOrMe) for s in (query, params, body) if isinstance(s, v.Obj) for f in s.fields.values()))

    def decorate(handler: Handler) -> Route:
        @functools.wraps(handler)
        async def run(request: Request) -> Response:
            state = request.app.state.emu
            try:
                raw_body = await parse_body(request)
                if ahead is not None:
                    started = ahead(raw_body, state)
                    # While other requests hold the database, this one waits for its worker-thread work first: it
                    # would wait for its turn anyway, and then holds the turn only for what needs it. (An idle
                    # database is used at once: the work then overlaps the request's own database work.)
                    if started is not None and state.db.busy():
                        await asyncio.wait([started])
                async with state.db.session() as db:
                    try:
                        result = await handle(request, db, state, raw_body)
                        await finish(db)
                    except BaseException:
                        if db.info.get("wrote"):
                            await db.rollback()
                        raise
            except StatusError as error:
                return error_response(error)
            except Exception:
                log.exception("unexpected error on %s %s", request.method, request.url.path)
                return error_response(StatusError(500, "The emulator hit an unexpected error; its log has the details."))
            if isinstance(result, Response):
                return result
            return json_response(result, pretty="text/html" in request.headers.get("accept", ""))

        async def handle(request: Request, db: AsyncSession, state, raw_body: Any):
            auth = await parse_auth(request, db, state, load_user=load_user)
            if access is not None:
                if auth is None:
                    raise E.access_type_required()
                if auth.access_type not in access:
                    raise E.insufficient_access_type(auth.access_type, list(access))
            body_schema = body(auth.access_type if auth else None) if callable(body) else body
            raw_query = dict(request.query_params)
            raw_params = dict(request.path_params)
            for schema, values in ((params, raw_params), (query, raw_query), (body_schema, raw_body)):
                _resolve_me(schema, values, auth)
            errors: list[str] = []
            if user_required and (auth is None or auth.user is None):
                errors.append("auth.user must be defined")
            ctx = Ctx(request, db, auth)
            ctx.params = params.validate(raw_params, "params", errors)
            ctx.query = query.validate(raw_query, "query", errors)
            ctx.body = body_schema.validate(raw_body, "body", errors) if body_schema else raw_body
            if errors:
                raise E.schema(f"Request validation failed on {request.method} {request.url.path}:\n"
                               + "\n".join("  - " + e.replace("\n", "\n  ") for e in errors))
            return await handler(ctx)

        route = Route(path, run, methods=[method])
        route.spec = EndpointSpec(access, body, query, params, handler.__doc__)  # type: ignore[attr-defined]
        return route

    return decorate


class RouteTable:
    """Collects a module's endpoints: `api = RouteTable()`, then `@api("/path", "GET", ...)` on handlers."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def __call__(self, path: str, method: str, **options: Any) -> Callable[[Handler], Handler]:
        def add(handler: Handler) -> Handler:
            self.routes.append(endpoint(path, method, **options)(handler))
            return handler
        return add
