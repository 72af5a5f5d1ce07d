"""/contact-channels: a user's emails, and verifying them."""
from __future__ import annotations

from emulator.domain.users import contact_channels as channels
from emulator.domain.users import users
from emulator.errors import E
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import json_response, success

api = RouteTable()

CODE = v.Str(required=True, min_length=45, max_length=45)
CHANNEL_PARAMS = v.Obj({"user_id": UserIdOrMe(required=True), "contact_channel_id": v.Uuid(required=True)})


def create_body(access_type: str | None) -> v.Obj:
    fields = {"user_id": UserIdOrMe(required=True), "value": v.Email(required=True),
              "type": v.Str(required=True, one_of=("email",)), "used_for_auth": v.Bool(required=True),
              "is_primary": v.Bool()}
    if access_type != "client":
        fields["is_verified"] = v.Bool()
    return v.Obj(fields, required=True)


def update_body(access_type: str | None) -> v.Obj:
    fields = {"value": v.Email(), "type": v.Str(one_of=("email",)), "used_for_auth": v.Bool(), "is_primary": v.Bool()}
    if access_type != "client":
        fields["is_verified"] = v.Bool()
    return v.Obj(fields, required=True)


async def owner(ctx: Ctx, user_id: str, action: str):
    ctx.forbid_other_user(user_id, f"Client can only {action} contact channels for their own user.",
                          without_user=E.cannot_get_own_user_without_user())
    return await users.require(ctx.db, ctx.project, user_id)


@api("/contact-channels", "POST", body=create_body)
async def create_channel(ctx: Ctx):
    user = await owner(ctx, ctx.body["user_id"], "create")
    return json_response(channels.shape(await channels.create(ctx.db, ctx.project, user, ctx.body)), 201)


@api("/contact-channels", "GET", query=v.Obj({"user_id": UserIdOrMe(required=True)}))
async def list_channels(ctx: Ctx):
    user = await owner(ctx, ctx.query["user_id"], "list")
    return {"items": [channels.shape(c) for c in user.contact_channels], "is_paginated": False}


@api("/contact-channels/{user_id}/{contact_channel_id}", "GET", params=CHANNEL_PARAMS)
async def get_channel(ctx: Ctx):
    user = await owner(ctx, ctx.params["user_id"], "read")
    return channels.shape(channels.find(user, ctx.params["contact_channel_id"]))


@api("/contact-channels/{user_id}/{contact_channel_id}", "PATCH", params=CHANNEL_PARAMS, body=update_body)
async def update_channel(ctx: Ctx):
    user = await owner(ctx, ctx.params["user_id"], "update")
    channel = channels.find(user, ctx.params["contact_channel_id"], missing_status=400)
    return channels.shape(await channels.update(ctx.db, ctx.project, user, channel, ctx.body))


@api("/contact-channels/{user_id}/{contact_channel_id}", "DELETE", params=CHANNEL_PARAMS)
async def delete_channel(ctx: Ctx):
    user = await owner(ctx, ctx.params["user_id"], "delete")
    channel = channels.find(user, ctx.params["contact_channel_id"], missing_status=400)
    user.contact_channels.remove(channel)
    return success()


@api("/contact-channels/{user_id}/{contact_channel_id}/send-verification-code", "POST", params=CHANNEL_PARAMS,
     body=v.Obj({"callback_url": v.Url(required=True)}, required=True))
async def send_verification_code(ctx: Ctx):
    user = await owner(ctx, ctx.params["user_id"], "verify")
    channel = channels.find(user, ctx.params["contact_channel_id"])
    await channels.send_verification(ctx.db, ctx.state.mail, ctx.project, user, channel, ctx.body["callback_url"])
    return success()


@api("/contact-channels/send-verification-code", "POST", user_required=True,
     body=v.Obj({"email": v.Email(required=True), "callback_url": v.Url(required=True)}, required=True))
async def send_primary_verification_code(ctx: Ctx):
    """The older route: verifies the signed-in user's primary email."""
    primary = users.primary_channel(ctx.user)
    email = users.normalize_email(ctx.body["email"])
    if primary is None or primary.value != email:
        raise E.email_is_not_primary_email(email, primary.value if primary else None)
    await channels.send_verification(ctx.db, ctx.state.mail, ctx.project, ctx.user, primary, ctx.body["callback_url"])
    return success()


@api("/contact-channels/verify", "POST", body=v.Obj({"code": CODE}, required=True))
async def verify(ctx: Ctx):
    await channels.verify(ctx.db, ctx.project, ctx.body["code"], consume=True)
    return success()


@api("/contact-channels/verify/check-code", "POST", body=v.Obj({"code": CODE}, required=True))
async def verify_check_code(ctx: Ctx):
    await channels.verify(ctx.db, ctx.project, ctx.body["code"], consume=False)
    return {"is_code_valid": True}
