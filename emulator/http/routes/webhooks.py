"""Webhook routes: the platform's (POST /webhooks/svix-token, POST /internal/send-test-webhook) and the emulator's
own, for tests and the Webhooks page (/api/v1/emulator/webhooks/deliveries, with a long-poll `wait`; replay)."""
from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from emulator import __version__
from emulator.clock import now_millis
from emulator.domain.webhooks import webhooks
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, Ctx, RouteTable
from emulator.http.responses import json_response, success, text_response
from emulator.http.routes.inbox import Lenient, _number, _until_disconnected
from emulator.http.routes.svix import issue_token
from emulator.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

api = RouteTable()

DEFAULT_LIMIT, MAX_LIMIT = 50, 500
MAX_WAIT_SECONDS = 60.0
TEST_WAIT_SECONDS = 20.0


@api("/webhooks/svix-token", "POST", access=ADMIN, body=v.Obj({}, required=True))
async def svix_token(ctx: Ctx):
    """The token for the project's Svix application (no app-portal URL: like a self-hosted Svix server)."""
    return json_response({"token": issue_token(ctx.state.signer.secret, ctx.project.id)}, 201)


@api("/internal/send-test-webhook", "POST", access=ADMIN, body=v.Obj({"endpoint_id": v.Str(required=True)},
                                                                     required=True))
async def send_test_webhook(ctx: Ctx):
    """The dashboard's test: a stack.test message, answered once its attempt at the endpoint is known."""
    project = ctx.project
    await webhooks.endpoints(ctx.db, project.id, project.config)
    ep = await webhooks.find_endpoint(ctx.db, project.id, ctx.body["endpoint_id"])
    if ep is None:
        return {"success": False, "error_message": "Endpoint not found. Make sure it still exists."}
    payload = {"type": webhooks.TEST_EVENT_TYPE,
               "data": {"message": "Stack webhook test event triggered from the Stack dashboard.",
                        "endpointUrl": ep.url}}
    msg = await webhooks.create_message(ctx.db, project.id, webhooks.TEST_EVENT_TYPE, payload, config=project.config)
    not_delivered = {"success": False,
                     "error_message": "Webhook not delivered. Make sure the endpoint is configured correctly."}
    if not webhooks.takes(ep, msg.event_type, None):
        return not_delivered
    with ctx.state.webhooks.outcome_of(msg.id, ep.id) as outcome:
        await ctx.db.commit()  # the attempt starts on commit
        try:
            result = await asyncio.wait_for(asyncio.shield(outcome), TEST_WAIT_SECONDS)
        except asyncio.TimeoutError:
            return not_delivered
    return {"success": True} if result.ok else not_delivered


# ---------------------------------------------------------------- the emulator's deliveries API

def delivery_item(attempt: WebhookAttempt, msg: WebhookMessage | None, delivery: WebhookDelivery | None,
                  ep: WebhookEndpoint | None) -> dict[str, Any]:
    """One HTTP attempt of a message to an endpoint, with what the page and tests need to know of both."""
    return {
        "id": attempt.id, "project_id": attempt.project_id, "message_id": attempt.message_id,
        "endpoint_id": attempt.endpoint_id, "endpoint_uid": ep.uid if ep else None, "url": attempt.url,
        "event_type": msg.event_type if msg else None, "payload": msg.payload if msg else None,
        "status": webhooks.STATUS_TEXT[attempt.status],
        "trigger": "manual" if attempt.trigger_type == webhooks.MANUAL else "scheduled",
        "response_status_code": attempt.response_status_code, "response": attempt.response,
        "response_duration_ms": attempt.response_duration_ms, "created_at_millis": attempt.created_at_millis,
        "delivery": None if delivery is None else {
            **webhooks.delivery_status(delivery), "attempts_made": delivery.attempts_made,
            "next_attempt_at_millis": delivery.next_attempt_at_millis
            if delivery.status in (webhooks.PENDING, webhooks.SENDING) else None},
    }


async def _items(db, *, project_id: str | None, event_type: str | None, endpoint_id: str | None,
                 since: int | None, limit: int) -> list[dict[str, Any]]:
    stmt = (select(WebhookAttempt, WebhookMessage, WebhookDelivery, WebhookEndpoint)
            .outerjoin(WebhookMessage, WebhookMessage.id == WebhookAttempt.message_id)
            .outerjoin(WebhookDelivery, (WebhookDelivery.message_id == WebhookAttempt.message_id)
                       & (WebhookDelivery.endpoint_id == WebhookAttempt.endpoint_id))
            .outerjoin(WebhookEndpoint, WebhookEndpoint.id == WebhookAttempt.endpoint_id))
    if project_id:
        stmt = stmt.where(WebhookAttempt.project_id == project_id)
    if event_type:
        stmt = stmt.where(WebhookMessage.event_type == event_type)
    if endpoint_id:
        stmt = stmt.where((WebhookAttempt.endpoint_id == endpoint_id) | (WebhookEndpoint.uid == endpoint_id))
    if since is not None:
        stmt = stmt.where(WebhookAttempt.created_at_millis >= since)
    stmt = stmt.order_by(WebhookAttempt.created_at_millis.desc(), WebhookAttempt.id.desc()).limit(limit)
    return [delivery_item(*row) for row in (await db.execute(stmt)).all()]


async def list_deliveries(request: Request) -> Response:
    """Attempts, newest first. With `wait=<seconds>`, an empty answer waits (up to 60 s) for the first attempt
    matching the filters (`since` in emulator-clock ms, `project_id`, `event_type`, `endpoint_id`)."""
    state = request.app.state.emu
    try:
        since, limit = (_number(request, name, integer=True) for name in ("since", "limit"))
        wait = _number(request, "wait", integer=False)
    except ValueError as exc:
        return text_response(f"Invalid query parameter: {exc}", 400)
    filters = {name: request.query_params.get(name) or None for name in ("project_id", "event_type", "endpoint_id")}
    limit = min(limit or DEFAULT_LIMIT, MAX_LIMIT)
    deadline = asyncio.get_running_loop().time() + min(wait or 0, MAX_WAIT_SECONDS)
    gone = asyncio.ensure_future(_until_disconnected(request)) if wait else None
    try:
        while True:
            with state.webhooks.next_outcome() as recorded:
                async with state.db.session() as db:
                    items = await _items(db, **filters, since=since, limit=limit)
                remaining = deadline - asyncio.get_running_loop().time()
                if items or remaining <= 0 or gone is None:
                    return json_response({"items": items, "now_millis": now_millis()})
                await asyncio.wait({recorded, gone}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    return Response(status_code=204)
    finally:
        if gone is not None:
            gone.cancel()


@api("/emulator/webhooks/deliveries/{id}/replay", "POST", access=None, params=v.Obj({"id": v.Str()}),
     query=Lenient({}))
async def replay(ctx: Ctx):
    """Send the message of an attempt to its endpoint once more (Svix's resend), now."""
    attempt = await ctx.db.get(WebhookAttempt, ctx.params["id"])
    msg = await ctx.db.get(WebhookMessage, attempt.message_id) if attempt else None
    ep = await ctx.db.get(WebhookEndpoint, attempt.endpoint_id) if attempt else None
    if msg is None or ep is None:
        return text_response("Delivery not found in the hexclave-emulator (or its endpoint was deleted)", 404)
    await webhooks.resend(ctx.db, msg, ep)
    return success()


routes = [Route("/emulator/webhooks/deliveries", list_deliveries, methods=["GET"])]


# ---------------------------------------------------------------- the Webhooks page

async def webhooks_page(request: Request) -> Response:
    from emulator.http.routes.pages import static_version, templates

    page = templates().get_template("webhooks.html").render(
        version=__version__, static_version=static_version(),
        config={"api": "/api/v1/emulator/webhooks/deliveries"},
        config_secret=webhooks.config_endpoint_secret)
    return HTMLResponse(page, headers={"cache-control": "no-cache"})


page_routes = [Route("/webhooks", webhooks_page, methods=["GET"])]
