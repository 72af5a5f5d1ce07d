"""Browser uploads of the analytics app: POST /session-replays/batch and /analytics/events/batch, and the
emulator's own read-back API, GET /emulator/session-replays and /emulator/analytics-events?project_id=..."""
from __future__ import annotations

import re

from emulator.domain.users import browser_uploads
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable

api = RouteTable()

# The platform's ids here are UUIDs of any version 1-8, each with its own schema message.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[1-8][0-9a-f]{3}-[089ab][0-9a-f]{3}-[0-9a-f]{12}$", re.IGNORECASE)


def uuid_field(name: str) -> v.Str:
    return v.Str(required=True, test=lambda value, path: None if _UUID.match(value) else f"Invalid {name}")


def item_count(least: int, most: int):
    def test(items, path):
        if len(items) < least:
            return f"{path} field must have at least {least} items"
        if len(items) > most:
            return f"{path} field must have less than or equal to {most} items"
        return None
    return test


MILLIS = v.Int(required=True, min_value=0)


@api("/session-replays/batch", "POST", body=v.Obj({
    "browser_session_id": uuid_field("browser_session_id"),
    "session_replay_segment_id": uuid_field("session_replay_segment_id"),
    "batch_id": uuid_field("batch_id"),
    "started_at_ms": MILLIS, "sent_at_ms": MILLIS,
    "events": v.Arr(v.Json(required=True), required=True)}, required=True))
async def upload_replay_batch(ctx: Ctx):
    size = len(await ctx.request.body())
    return await browser_uploads.add_replay_batch(ctx.db, ctx.project, ctx.user, ctx.auth.refresh_token_id,
                                                  ctx.body, size)


@api("/analytics/events/batch", "POST", body=v.Obj({
    "session_replay_segment_id": uuid_field("session_replay_segment_id"),
    "batch_id": uuid_field("batch_id"),
    "sent_at_ms": MILLIS,
    "events": v.Arr(v.Obj({
        "event_type": v.Str(required=True, one_of=("$page-view", "$click")),
        "event_at_ms": MILLIS,
        "data": v.Json(required=True)}, required=True),
        required=True, test=item_count(1, browser_uploads.MAX_ANALYTICS_EVENTS))}, required=True))
async def upload_analytics_events(ctx: Ctx):
    return await browser_uploads.add_analytics_events(ctx.db, ctx.project, ctx.user, ctx.auth.refresh_token_id,
                                                      ctx.body)


PROJECT_QUERY = v.Obj({"project_id": v.Str(required=True)})


@api("/emulator/session-replays", "GET", access=None, query=PROJECT_QUERY)
async def list_replays(ctx: Ctx):
    return {"items": await browser_uploads.list_replays(ctx.db, ctx.query["project_id"])}


@api("/emulator/analytics-events", "GET", access=None,
     query=v.Obj({"project_id": v.Str(required=True), "event_type": v.Str()}))
async def list_analytics_events(ctx: Ctx):
    return {"items": await browser_uploads.list_analytics_events(ctx.db, ctx.query["project_id"],
                                                                 ctx.query.get("event_type"))}
