"""/teams and /team-memberships."""
from __future__ import annotations

from emulator.domain.teams import permissions, teams
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import json_response, success
from emulator.http.routes.storage import with_stored_images
from emulator.http.validation import is_image_data_url

api = RouteTable()

TEAM_PARAMS = v.Obj({"team_id": v.Uuid(required=True)})
MEMBERSHIP_PARAMS = v.Obj({"team_id": v.Uuid(required=True), "user_id": UserIdOrMe(required=True)})
CLIENT_UPDATE_FIELDS = {
    "display_name": v.Str(),
    "profile_image_url": v.Url(nullable=True, max_length=1_000_000),
    "client_metadata": v.Json(),
}
SERVER_UPDATE_FIELDS = {**CLIENT_UPDATE_FIELDS, "client_read_only_metadata": v.Json(), "server_metadata": v.Json()}
TRUE_FALSE = ("true", "false")


def update_body(access_type: str | None) -> v.Obj:
    return v.Obj(CLIENT_UPDATE_FIELDS if access_type == "client" else SERVER_UPDATE_FIELDS, required=True)


def create_body(access_type: str | None) -> v.Obj:
    fields = CLIENT_UPDATE_FIELDS if access_type == "client" else SERVER_UPDATE_FIELDS
    return v.Obj({**fields, "display_name": v.Str(required=True), "creator_user_id": UserIdOrMe()}, required=True)


def shape(ctx: Ctx, team) -> dict:
    return teams.client_shape(team) if ctx.is_client else teams.server_shape(team)


def signed_in_user_id(ctx: Ctx) -> str:
    if ctx.user is None:
        raise E.user_authentication_required()
    return ctx.user.id


def check_client_image(ctx: Ctx) -> None:
    url = ctx.body.get("profile_image_url")
    if ctx.is_client and url and not is_image_data_url(url):
        raise StatusError(400, "Invalid profile image URL")


@api("/teams", "POST", body=create_body,
     query=v.Obj({"user_id": UserIdOrMe(), "add_current_user": v.Str(one_of=TRUE_FALSE)}))
async def create_team(ctx: Ctx):
    creator_id = ctx.body.get("creator_user_id")
    if creator_id and ctx.query.get("add_current_user"):
        raise StatusError(400, "Send creator_user_id or the deprecated add_current_user query parameter, not both.")
    if ctx.is_client:
        user_id = signed_in_user_id(ctx)
        if not ctx.project.config["teams"]["allowClientTeamCreation"]:
            raise StatusError(403, "Client team creation is disabled for this project")
        check_client_image(ctx)
        if creator_id is None:
            creator_id = user_id
        elif creator_id != user_id:
            raise StatusError(403, "A client can only create teams with itself as creator; set creator_user_id to 'me'.")
    if ctx.query.get("add_current_user") == "true":
        if ctx.user is None:
            raise StatusError(401, "add_current_user=true needs a signed-in user.")
        creator_id = ctx.user.id
    team = await teams.create(ctx.db, ctx.project, await with_stored_images(ctx, ctx.body, "team-profile-images"),
                              creator_id)
    return json_response(shape(ctx, team), 201)


@api("/teams", "GET", query=v.Obj({
    "user_id": UserIdOrMe(),
    # The SDK's paginated listing may send these; teams are few, so they only order the list.
    "order_by": v.Str(one_of=("created_at",)), "desc": v.Str(one_of=TRUE_FALSE), "cursor": v.Str(),
    "limit": v.Int(min_value=1), "query": v.Str(),
}))
async def list_teams(ctx: Ctx):
    user_id = ctx.query.get("user_id")
    if ctx.is_client:
        if ctx.user is None:
            raise E.cannot_get_own_user_without_user()
        if user_id != ctx.user.id:
            raise StatusError(403, 'Client can only list the teams of its own user: user_id must be "me" or the '
                                   "signed-in user's id.")
    found = await teams.list_teams(ctx.db, ctx.project, user_id)
    if ctx.query.get("query"):
        needle = ctx.query["query"].lower()
        found = [t for t in found if needle in t.display_name.lower() or needle == t.id]
    if ctx.query.get("desc") == "true":
        found.reverse()
    return {"items": [shape(ctx, t) for t in found], "is_paginated": False}


@api("/teams/{team_id}", "GET", params=TEAM_PARAMS)
async def get_team(ctx: Ctx):
    team_id = ctx.params["team_id"]
    if ctx.is_client:
        await permissions.require_membership(ctx.db, ctx.project, team_id, signed_in_user_id(ctx))
    return shape(ctx, await teams.require(ctx.db, ctx.project, team_id))


@api("/teams/{team_id}", "PATCH", params=TEAM_PARAMS, body=update_body)
async def update_team(ctx: Ctx):
    team_id = ctx.params["team_id"]
    check_client_image(ctx)
    if ctx.is_client:
        await permissions.require_team_permission(ctx.db, ctx.project, team_id, signed_in_user_id(ctx), "$update_team")
    team = await teams.require(ctx.db, ctx.project, team_id)
    await teams.update(ctx.db, ctx.project, team, await with_stored_images(ctx, ctx.body, "team-profile-images"))
    return shape(ctx, team)


@api("/teams/{team_id}", "DELETE", params=TEAM_PARAMS)
async def delete_team(ctx: Ctx):
    team_id = ctx.params["team_id"]
    if ctx.is_client:
        await permissions.require_team_permission(ctx.db, ctx.project, team_id, signed_in_user_id(ctx), "$delete_team")
    await teams.delete(ctx.db, ctx.project, await teams.require(ctx.db, ctx.project, team_id))
    return success()


@api("/team-memberships/{team_id}/{user_id}", "POST", access=SERVER, params=MEMBERSHIP_PARAMS,
     body=v.Obj({}, required=True))
async def add_membership(ctx: Ctx):
    team_id, user_id = ctx.params["team_id"], ctx.params["user_id"]
    await permissions.require_user(ctx.db, ctx.project, user_id)
    team = await teams.require(ctx.db, ctx.project, team_id)
    await teams.add_member(ctx.db, ctx.project, team, user_id, "member")
    return json_response({"team_id": team_id, "user_id": user_id}, 201)


@api("/team-memberships/{team_id}/{user_id}", "DELETE", params=MEMBERSHIP_PARAMS)
async def remove_membership(ctx: Ctx):
    team_id, user_id = ctx.params["team_id"], ctx.params["user_id"]
    if ctx.is_client:
        if ctx.user is None:
            raise E.cannot_get_own_user_without_user()
        if user_id != ctx.user.id:  # leaving is always allowed; removing others needs $remove_members
            await permissions.require_team_permission(ctx.db, ctx.project, team_id, ctx.user.id, "$remove_members")
    await teams.remove_member(ctx.db, ctx.project, team_id, user_id)
    return success()
