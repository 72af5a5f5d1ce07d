"""/emails: send-email, the outbox, delivery info, capacity boost, notification preferences and unsubscribing."""
from __future__ import annotations

from starlette.responses import HTMLResponse

from emulator.domain.mail import email_admin, outbox
from emulator.domain.users import notifications, users
from emulator.errors import E
from emulator.http import validation as v
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.routes.email_admin import theme_id_field

api = RouteTable()

# ---------------------------------------------------------------- notification preferences

PREFERENCE_PARAMS = v.Obj({"user_id": UserIdOrMe(required=True), "notification_category_id": v.Uuid(required=True)})


async def owner(ctx: Ctx, user_id: str, action: str):
    ctx.forbid_other_user(user_id, f"Client can only {action} notification preferences for their own user.")
    return await users.require(ctx.db, ctx.project, user_id)


@api("/emails/notification-preference/{user_id}", "GET", params=v.Obj({"user_id": UserIdOrMe(required=True)}))
async def list_preferences(ctx: Ctx):
    user = await owner(ctx, ctx.params["user_id"], "read")
    return {"items": await notifications.list_for(ctx.db, user), "is_paginated": False}


@api("/emails/notification-preference/{user_id}/{notification_category_id}", "PATCH", params=PREFERENCE_PARAMS,
     body=v.Obj({"enabled": v.Bool(required=True)}, required=True))
async def update_preference(ctx: Ctx):
    user = await owner(ctx, ctx.params["user_id"], "update")
    category = notifications.by_id(ctx.params["notification_category_id"])
    return await notifications.set_enabled(ctx.db, user, category, ctx.body["enabled"])


# ---------------------------------------------------------------- send-email

_SEND_BASE = {
    "user_ids": v.Arr(v.Str(required=True)),
    "all_users": v.Bool(one_of=(True,)),
    "subject": v.Str(),
    "notification_category_name": v.Str(),
    "theme_id": theme_id_field(),
    "is_high_priority": v.Bool(),
    "scheduled_at_millis": v.Int(min_value=0),
}
# One of three contents; each option is the base joined with yup's concat(), hence unknown properties twice.
SEND_BODY = v.Union(
    v.Obj({**_SEND_BASE, "html": v.Str(required=True)}),
    v.Obj({**_SEND_BASE, "template_id": v.Uuid(required=True), "variables": v.Record()}),
    v.Obj({**_SEND_BASE, "draft_id": v.Str(required=True)}),
    unknown_repeats=2, required=True)


@api("/emails/send-email", "POST", access=SERVER, body=SEND_BODY)
async def send_email(ctx: Ctx):
    email_admin.require_custom_server(ctx.project)
    if ("user_ids" in ctx.body) == bool(ctx.body.get("all_users")):
        raise E.schema("Exactly one of user_ids or all_users must be provided")
    results = await outbox.send_email(ctx.db, ctx.state.mail, ctx.project, ctx.state.settings.base_url, ctx.body)
    return {"results": results}


# ---------------------------------------------------------------- outbox

OUTBOX_QUERY = v.Obj({
    "status": v.Str(one_of=outbox.STATUSES),
    "simple_status": v.Str(one_of=outbox.SIMPLE_STATUSES),
    "limit": v.Int(min_value=1, max_value=100),
    "cursor": v.Str(),
})


@api("/emails/outbox", "GET", access=SERVER, query=OUTBOX_QUERY)
async def list_outbox(ctx: Ctx):
    return await outbox.list_outbox(ctx.db, ctx.project, ctx.query)


OUTBOX_PARAMS = v.Obj({"id": v.Uuid(required=True)})


@api("/emails/outbox/{id}", "GET", access=SERVER, params=OUTBOX_PARAMS)
async def get_outbox(ctx: Ctx):
    return await outbox.get_outbox(ctx.db, ctx.project, ctx.params["id"])


@api("/emails/outbox/{id}", "PATCH", access=SERVER, params=OUTBOX_PARAMS, body=v.Obj({
    "is_paused": v.Bool(), "cancel": v.Bool(one_of=(True,)), "scheduled_at_millis": v.Int(min_value=0),
    "skip_deliverability_check": v.Bool(), "tsx_source": v.Str(), "theme_id": v.Json(), "to": v.Json(),
    "variables": v.Json()}, required=True))
async def update_outbox(ctx: Ctx):
    return await outbox.update_outbox(ctx.db, ctx.project, ctx.params["id"], ctx.body)


# ---------------------------------------------------------------- delivery info and capacity

@api("/emails/delivery-info", "GET", access=SERVER)
async def delivery_info(ctx: Ctx):
    return await outbox.delivery_info(ctx.db, ctx.project)


@api("/emails/capacity-boost", "POST", access=SERVER)
async def capacity_boost(ctx: Ctx):
    return outbox.capacity_boost(ctx.project)


# ---------------------------------------------------------------- unsubscribe link (opened from an email)

@api("/emails/unsubscribe-link", "GET", access=None, query=v.Obj({"code": v.Str(required=True)}))
async def unsubscribe_link(ctx: Ctx):
    if await outbox.unsubscribe(ctx.db, ctx.query["code"]):
        return HTMLResponse("<p>Successfully unsubscribed from notification group</p>")
    return HTMLResponse("<p>You have already unsubscribed from this notification group</p>")
