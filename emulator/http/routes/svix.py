"""A Svix-compatible management API: the part the platform, its dashboard and the Svix client libraries use.

Served under /api/v1 of the main port and, with `start --svix-port`, on a port of its own (the platform's
development setup points STACK_SVIX_SERVER_URL at one). Each project is a Svix application whose id (and uid) is
the project id; a token from POST /api/v1/webhooks/svix-token (the dashboard's) opens that one application.
Errors are Svix's: `{"code", "detail"}`, and 422 `{"detail": [{"loc", "msg", "type"}]}` for a bad body.
"""
from __future__ import annotations

import json
import logging
import re
from datetime import datetime
from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

import jwt
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator.clock import now_millis
from emulator.domain.webhooks import webhooks
from emulator.http.responses import json_response
from emulator.store.engine import finish
from emulator.store.models import Project, WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

log = logging.getLogger("hexclave.svix")

TOKEN_AUDIENCE = "hexclave-emulator:svix-app-portal"
DEFAULT_LIMIT, MAX_LIMIT = 50, 250
UID = re.compile(r"^[a-zA-Z0-9\-_.]{1,256}$")


def issue_token(signing_secret: str, project_id: str) -> str:
    """An app-portal token for one project's application (what the platform gets from Svix for its dashboard)."""
    return jwt.encode({"aud": TOKEN_AUDIENCE, "sub": project_id}, signing_secret, algorithm="HS256")


class SvixError(Exception):
    def __init__(self, status: int, code: str, detail: Any):
        self.status, self.code, self.detail = status, code, detail

    def response(self) -> Response:
        if self.status == 422:
            return json_response({"detail": self.detail}, 422)
        return json_response({"code": self.code, "detail": self.detail}, self.status)


def not_found() -> SvixError:
    return SvixError(404, "not_found", "Entity not found")


def invalid(*problems: tuple[str, str]) -> SvixError:
    return SvixError(422, "validation", [{"loc": ["body", field], "msg": msg, "type": "value_error"}
                                         for field, msg in problems])


class Call:
    """One management API request: the store session, the application (project) id, the path, query and body."""

    def __init__(self, request: Request, db: AsyncSession, app_id: str, body: Any):
        self.request, self.db, self.app_id, self.body = request, db, app_id, body
        self.path = request.path_params
        self.query = request.query_params

    def flag(self, name: str) -> bool:
        return self.query.get(name, "").lower() == "true"


def _authorized_project(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise SvixError(401, "authentication_failed", "Missing or malformed Authorization header (Bearer <token>)")
    try:
        claims = jwt.decode(token.strip(), request.app.state.emu.signer.secret, algorithms=["HS256"],
                            audience=TOKEN_AUDIENCE)
    except jwt.PyJWTError:
        raise SvixError(401, "authentication_failed", "Invalid token") from None
    return claims["sub"]


def route(path: str, method: str, handler: Callable[[Call], Awaitable[Any]], status: int = 200) -> Route:
    async def run(request: Request) -> Response:
        try:
            project_id = _authorized_project(request)
            app_id = request.path_params.get("app_id", project_id)
            if app_id != project_id:
                raise SvixError(403, "forbidden", "This token is for another application")
            body = None
            if method in ("POST", "PUT", "PATCH"):
                raw = await request.body()
                try:
                    body = json.loads(raw) if raw.strip() else {}
                except ValueError:
                    raise SvixError(400, "invalid_json", "The body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise invalid(("__root__", "expected a JSON object"))
            async with request.app.state.emu.db.session() as db:
                if await db.get(Project, project_id) is None:
                    raise not_found()
                result = await handler(Call(request, db, project_id, body))
                await finish(db)
        except SvixError as error:
            return error.response()
        except Exception:
            log.exception("unexpected error on %s %s", request.method, request.url.path)
            return json_response({"code": "internal_error", "detail": "The emulator hit an unexpected error; its log "
                                  "has the details."}, 500)
        if result is None:
            return Response(status_code=status if status != 200 else 204)
        return json_response(result, status)

    return Route(path, run, methods=[method])


# ---------------------------------------------------------------- lists

def _limit(call: Call) -> int:
    try:
        return max(1, min(int(call.query.get("limit", DEFAULT_LIMIT)), MAX_LIMIT))
    except ValueError:
        raise SvixError(422, "validation", [{"loc": ["query", "limit"], "msg": "not an integer",
                                             "type": "type_error"}]) from None


def _millis(call: Call, name: str) -> int | None:
    text = call.query.get(name)
    if not text:
        return None
    try:
        return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise SvixError(422, "validation", [{"loc": ["query", name], "msg": "not an ISO 8601 date-time",
                                             "type": "value_error"}]) from None


async def page(call: Call, model, where: list, *, newest_first: bool = True) -> tuple[list, dict[str, Any]]:
    """A page of `model` rows in Svix's list format; the iterator is the id of the last row of the page before."""
    order_key = tuple_(model.created_at_millis, model.id)
    stmt = select(model).where(*where)
    iterator = call.query.get("iterator")
    if iterator:
        anchor = await call.db.get(model, iterator)
        if anchor is not None:
            bound = tuple_(anchor.created_at_millis, anchor.id)
            stmt = stmt.where(order_key < bound if newest_first else order_key > bound)
    before, after = _millis(call, "before"), _millis(call, "after")
    if before is not None:
        stmt = stmt.where(model.created_at_millis < before)
    if after is not None:
        stmt = stmt.where(model.created_at_millis > after)
    order = (model.created_at_millis.desc(), model.id.desc()) if newest_first else (model.created_at_millis, model.id)
    limit = _limit(call)
    rows = list((await call.db.execute(stmt.order_by(*order).limit(limit + 1))).scalars())
    done = len(rows) <= limit
    rows = rows[:limit]
    return rows, {"iterator": rows[-1].id if rows else None, "prevIterator": None, "done": done}


def listing(data: list, meta: dict[str, Any]) -> dict[str, Any]:
    return {"data": data, **meta}


def _event_types(call: Call) -> list[str]:
    return [t for value in call.query.getlist("event_types") for t in value.split(",") if t]


# ---------------------------------------------------------------- applications

def app_out(project: Project) -> dict[str, Any]:
    created = webhooks.iso(project.created_at_millis)
    return {"id": project.id, "uid": project.id, "name": project.id, "metadata": {}, "rateLimit": None,
            "throttleRate": None, "createdAt": created, "updatedAt": created}


async def get_app(call: Call):
    return app_out(await call.db.get(Project, call.app_id))


async def list_apps(call: Call):
    return {"data": [app_out(await call.db.get(Project, call.app_id))], "iterator": None, "prevIterator": None,
            "done": True}


async def create_app(call: Call):
    """Applications are the projects themselves: creating the token's own one (the platform's getOrCreate) reads it."""
    uid = (call.body or {}).get("uid")
    if uid not in (None, call.app_id):
        raise SvixError(403, "forbidden", "This token is for another application")
    return app_out(await call.db.get(Project, call.app_id))


# ---------------------------------------------------------------- endpoints

def _string_list(body: dict, *names: str) -> tuple[bool, list[str] | None]:
    for name in names:
        if name in body:
            value = body[name]
            if value is not None and (not isinstance(value, list) or not all(isinstance(x, str) for x in value)):
                raise invalid((name, "expected a list of strings"))
            return True, (value or None)
    return False, None


def _apply_endpoint(ep: WebhookEndpoint, body: dict, *, partial: bool) -> None:
    """Validate and apply an EndpointIn / EndpointUpdate / EndpointPatch body (old and new field names)."""
    problems = []
    if "url" in body or not partial:
        url = body.get("url")
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            problems.append(("url", "expected an http or https URL"))
        else:
            ep.url = url
    for name in ("description",):
        if name in body:
            if not isinstance(body[name], str):
                problems.append((name, "expected a string"))
            else:
                ep.description = body[name]
    if "uid" in body:
        if body["uid"] is not None and (not isinstance(body["uid"], str) or not UID.match(body["uid"])):
            problems.append(("uid", "expected 1-256 characters of letters, digits, -, _ and ."))
        else:
            ep.uid = body["uid"]
    if "disabled" in body:
        if not isinstance(body["disabled"], bool):
            problems.append(("disabled", "expected a boolean"))
        else:
            ep.disabled = body["disabled"]
            if not ep.disabled:
                ep.failing_since_millis = None
    for names in (("rateLimit", "throttleRate"),):
        for name in names:
            if name in body:
                if body[name] is not None and (not isinstance(body[name], int) or body[name] < 1):
                    problems.append((name, "expected a positive integer"))
                else:
                    ep.throttle_rate = body[name]
    if "metadata" in body:
        metadata = body["metadata"]
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            problems.append(("metadata", "expected an object of strings"))
        else:
            ep.metadata_ = metadata
    if problems:
        raise invalid(*problems)
    given, types = _string_list(body, "filterTypes", "eventTypes")
    if given:
        ep.event_types = types
    given, channels = _string_list(body, "channels")
    if given:
        ep.channels = channels
    ep.updated_at_millis = now_millis()


def endpoint_shape(ep: WebhookEndpoint) -> dict[str, Any]:
    """Svix's EndpointOut, with the older field names (filterTypes, rateLimit) beside the newer ones."""
    out = webhooks.endpoint_out(ep)
    return {**out, "filterTypes": out["eventTypes"], "rateLimit": out["throttleRate"], "version": 1}


async def _project_config(call: Call) -> dict[str, Any] | None:
    view = await call.request.app.state.emu.projects.view(call.db, call.app_id)
    return view.config if view else None


async def _endpoint(call: Call) -> WebhookEndpoint:
    ep = await webhooks.find_endpoint(call.db, call.app_id, call.path["endpoint_id"])
    if ep is None:
        raise not_found()
    return ep


async def list_endpoints(call: Call):
    rows = await webhooks.endpoints(call.db, call.app_id, await _project_config(call))
    newest_first = call.query.get("order", "ascending") == "descending"
    if newest_first:
        rows.reverse()
    iterator = call.query.get("iterator")
    if iterator:
        ids = [ep.id for ep in rows]
        rows = rows[ids.index(iterator) + 1:] if iterator in ids else rows
    limit = _limit(call)
    return {"data": [endpoint_shape(ep) for ep in rows[:limit]],
            "iterator": rows[:limit][-1].id if rows[:limit] else None, "prevIterator": None,
            "done": len(rows) <= limit}


async def create_endpoint(call: Call):
    now = now_millis()
    secret = call.body.get("secret")
    if secret is not None and not webhooks.is_valid_secret(secret):
        raise invalid(("secret", "expected whsec_ and base64 of 24 to 75 bytes"))
    ep = WebhookEndpoint(id=webhooks.new_id("ep"), project_id=call.app_id, uid=None, url="", description="",
                         secret=secret or webhooks.new_secret(), event_types=None, channels=None, metadata_={},
                         headers={}, disabled=False, from_config=False, created_at_millis=now, updated_at_millis=now)
    _apply_endpoint(ep, call.body, partial=False)
    headers = call.body.get("headers")
    if headers is not None:
        ep.headers = _headers(headers)
    await _check_uid_free(call, ep)
    call.db.add(ep)
    await call.db.flush()
    return endpoint_shape(ep)


async def _check_uid_free(call: Call, ep: WebhookEndpoint) -> None:
    if ep.uid is None:
        return
    other = await webhooks.find_endpoint(call.db, call.app_id, ep.uid)
    if other is not None and other.id != ep.id:
        raise SvixError(409, "conflict", "An endpoint with this uid already exists")


async def get_endpoint(call: Call):
    return endpoint_shape(await _endpoint(call))


async def update_endpoint(call: Call):
    ep = await _endpoint(call)
    _apply_endpoint(ep, call.body, partial=call.request.method == "PATCH")
    await _check_uid_free(call, ep)
    return endpoint_shape(ep)


async def delete_endpoint(call: Call):
    ep = await _endpoint(call)
    await call.db.delete(ep)
    return None


async def get_secret(call: Call):
    return {"key": (await _endpoint(call)).secret}


async def rotate_secret(call: Call):
    """A new secret (given, or made); the old one still signs for the grace period (default 24 h, as Svix)."""
    ep = await _endpoint(call)
    key = call.body.get("key")
    if key is not None and not webhooks.is_valid_secret(key):
        raise invalid(("key", "expected whsec_ and base64 of 24 to 75 bytes"))
    grace = call.body.get("gracePeriodSeconds", 24 * 3600)
    if not isinstance(grace, int) or not 0 <= grace <= 7 * 24 * 3600:
        raise invalid(("gracePeriodSeconds", "expected 0 to 604800"))
    ep.previous_secret, ep.previous_secret_expires_at_millis = ep.secret, now_millis() + grace * 1000
    ep.secret = key or webhooks.new_secret()
    ep.updated_at_millis = now_millis()
    return {"key": ep.secret}  # newer Svix clients read the new secret here (older ones expect no body)


def _headers(value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise invalid(("headers", "expected an object of strings"))
    return value


async def get_headers(call: Call):
    return {"headers": (await _endpoint(call)).headers or {}, "sensitive": []}


async def set_headers(call: Call):
    ep = await _endpoint(call)
    headers = _headers(call.body.get("headers"))
    ep.headers = {**(ep.headers or {}), **headers} if call.request.method == "PATCH" else headers
    return None


async def recover(call: Call):
    """Re-enable an endpoint and send again every message that failed to reach it since `since`."""
    ep = await _endpoint(call)
    since = call.body.get("since")
    try:
        since_millis = int(datetime.fromisoformat(str(since).replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        raise invalid(("since", "expected an ISO 8601 date-time")) from None
    ep.disabled, ep.failing_since_millis = False, None
    failed = (await call.db.execute(
        select(WebhookMessage).join(WebhookDelivery, WebhookDelivery.message_id == WebhookMessage.id)
        .where(WebhookDelivery.endpoint_id == ep.id, WebhookDelivery.status == webhooks.FAIL,
               WebhookMessage.created_at_millis >= since_millis))).scalars().all()
    for msg in failed:
        await webhooks.resend(call.db, msg, ep)
    return {"id": webhooks.new_id("qtask"), "status": "finished", "task": "endpoint.recover"}


# ---------------------------------------------------------------- messages

async def _message(call: Call) -> WebhookMessage:
    msg = await call.db.get(WebhookMessage, call.path["msg_id"])
    if msg is None or msg.project_id != call.app_id:
        raise not_found()
    return msg


async def list_messages(call: Call):
    where = [WebhookMessage.project_id == call.app_id]
    if types := _event_types(call):
        where.append(WebhookMessage.event_type.in_(types))
    rows, meta = await page(call, WebhookMessage, where)
    with_content = call.query.get("with_content", "true").lower() != "false"
    return listing([webhooks.message_out(m, with_content) for m in rows], meta)


async def create_message(call: Call):
    """An app's own message: delivered like the platform's events (payload as given)."""
    body = call.body
    problems = []
    if not isinstance(body.get("eventType"), str) or not body.get("eventType"):
        problems.append(("eventType", "expected a non-empty string"))
    if not isinstance(body.get("payload"), dict):
        problems.append(("payload", "expected a JSON object"))
    if problems:
        raise invalid(*problems)
    _, channels = _string_list(body, "channels")
    msg = await webhooks.create_message(call.db, call.app_id, body["eventType"], body["payload"],
                                        config=await _project_config(call), event_id=body.get("eventId"),
                                        channels=channels)
    return webhooks.message_out(msg)


async def get_message(call: Call):
    return webhooks.message_out(await _message(call), call.query.get("with_content", "true").lower() != "false")


async def resend(call: Call):
    msg, ep = await _message(call), await _endpoint(call)
    await webhooks.resend(call.db, msg, ep)
    return {}


# ---------------------------------------------------------------- attempts

async def _attempts(call: Call, where: list):
    status = call.query.get("status")
    if status is not None and status.isdigit():
        where.append(WebhookAttempt.status == int(status))
    if types := _event_types(call):
        where.append(WebhookAttempt.message_id.in_(
            select(WebhookMessage.id).where(WebhookMessage.event_type.in_(types))))
    rows, meta = await page(call, WebhookAttempt, where)
    with_msg = call.flag("with_msg")
    messages = {}
    if with_msg and rows:
        ids = {a.message_id for a in rows}
        messages = {m.id: m for m in (await call.db.execute(select(WebhookMessage)
                                                            .where(WebhookMessage.id.in_(ids)))).scalars()}
    return listing([webhooks.attempt_out(a, messages.get(a.message_id)) for a in rows], meta)


async def attempts_by_endpoint(call: Call):
    ep = await _endpoint(call)
    return await _attempts(call, [WebhookAttempt.project_id == call.app_id, WebhookAttempt.endpoint_id == ep.id])


async def attempts_by_message(call: Call):
    msg = await _message(call)
    where = [WebhookAttempt.project_id == call.app_id, WebhookAttempt.message_id == msg.id]
    if endpoint_id := call.query.get("endpoint_id"):
        where.append(WebhookAttempt.endpoint_id == endpoint_id)
    return await _attempts(call, where)


async def get_attempt(call: Call):
    attempt = await call.db.get(WebhookAttempt, call.path["attempt_id"])
    if attempt is None or attempt.message_id != call.path["msg_id"] or attempt.project_id != call.app_id:
        raise not_found()
    return webhooks.attempt_out(attempt)


async def message_destinations(call: Call):
    """The endpoints a message went to, with its delivery status at each."""
    msg = await _message(call)
    rows = (await call.db.execute(
        select(WebhookDelivery, WebhookEndpoint).join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
        .where(WebhookDelivery.message_id == msg.id).order_by(WebhookDelivery.created_at_millis))).all()
    data = [{**endpoint_shape(ep), **webhooks.delivery_status(delivery)} for delivery, ep in rows]
    return {"data": data, "iterator": None, "prevIterator": None, "done": True}


async def endpoint_messages(call: Call):
    """The messages sent to an endpoint, with their delivery status there."""
    ep = await _endpoint(call)
    rows = (await call.db.execute(
        select(WebhookDelivery, WebhookMessage).join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .where(WebhookDelivery.endpoint_id == ep.id)
        .order_by(WebhookMessage.created_at_millis.desc()).limit(_limit(call)))).all()
    data = [{**webhooks.message_out(msg, call.query.get("with_content", "true") != "false"),
             **webhooks.delivery_status(delivery)}
            for delivery, msg in rows]
    return {"data": data, "iterator": None, "prevIterator": None, "done": True}


APP = "/app/{app_id}"
EP = APP + "/endpoint/{endpoint_id}"
MSG = APP + "/msg/{msg_id}"

routes = [
    route("/app", "GET", list_apps),
    route("/app", "POST", create_app, 201),
    route(APP, "GET", get_app),
    route(APP + "/endpoint", "GET", list_endpoints),
    route(APP + "/endpoint", "POST", create_endpoint, 201),
    route(EP, "GET", get_endpoint),
    route(EP, "PUT", update_endpoint),
    route(EP, "PATCH", update_endpoint),
    route(EP, "DELETE", delete_endpoint),
    route(EP + "/secret", "GET", get_secret),
    route(EP + "/secret/rotate", "POST", rotate_secret),
    route(EP + "/headers", "GET", get_headers),
    route(EP + "/headers", "PUT", set_headers),
    route(EP + "/headers", "PATCH", set_headers),
    route(EP + "/recover", "POST", recover, 202),
    route(EP + "/msg", "GET", endpoint_messages),
    route(APP + "/msg", "GET", list_messages),
    route(APP + "/msg", "POST", create_message, 202),
    route(MSG, "GET", get_message),
    route(MSG + "/endpoint", "GET", message_destinations),
    route(MSG + "/endpoint/{endpoint_id}/resend", "POST", resend, 202),
    route(MSG + "/attempt/{attempt_id}", "GET", get_attempt),
    route(APP + "/attempt/endpoint/{endpoint_id}", "GET", attempts_by_endpoint),
    route(APP + "/attempt/msg/{msg_id}", "GET", attempts_by_message),
]


def create_svix_app(state):
    """The management API alone, for `--svix-port` (where the platform's STACK_SVIX_SERVER_URL points)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.middleware.cors import CORSMiddleware
    from starlette.routing import Mount

    app = Starlette(routes=[Mount("/api/v1", routes=routes)],
                    middleware=[Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["*"],
                                           allow_headers=["*"])])
    app.state.emu = state
    return app
