"""/team-member-profiles: list, read and update members' per-team names and images."""
from __future__ import annotations

from emulator.domain.teams import member_profiles as profiles
from emulator.domain.teams import permissions, teams
from emulator.domain.users import users
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable, UserIdOrMe
from emulator.http.routes.storage import with_stored_images
from emulator.http.validation import is_image_data_url

api = RouteTable()

PARAMS = v.Obj({"team_id": v.Uuid(required=True), "user_id": UserIdOrMe(required=True)})
UPDATE_BODY = v.Obj({"display_name": v.Str(), "profile_image_url": v.Url(nullable=True, max_length=1_000_000)},
                    required=True)


def caller_id(ctx: Ctx) -> str:
    if ctx.user is None:
        raise E.cannot_get_own_user_without_user()
    return ctx.user.id


async def render(ctx: Ctx, member, user) -> dict:
    return await profiles.render(ctx.db, ctx.project, member, user, server=not ctx.is_client)


@api("/team-member-profiles", "GET", query=v.Obj({"user_id": UserIdOrMe(), "team_id": v.Uuid()}))
async def list_profiles(ctx: Ctx):
    team_id, user_id = ctx.query.get("team_id"), ctx.query.get("user_id")
    if ctx.is_client:
        me = caller_id(ctx)
        if not team_id:
            raise StatusError(400, "team_id is required for access type client")
        await permissions.require_membership(ctx.db, ctx.project, team_id, me)
        if user_id != me:  # anything beyond one's own profile
            await permissions.require_team_permission(ctx.db, ctx.project, team_id, me, "$read_members")
    else:
        if team_id:
            await teams.require(ctx.db, ctx.project, team_id)
        if user_id:
            await users.require(ctx.db, ctx.project, user_id)
    found = await profiles.list_members(ctx.db, ctx.project, team_id, user_id)
    return {"items": [await render(ctx, m, u) for m, u in found], "is_paginated": False}


@api("/team-member-profiles/{team_id}/{user_id}", "GET", params=PARAMS)
async def get_profile(ctx: Ctx):
    team_id, user_id = ctx.params["team_id"], ctx.params["user_id"]
    if ctx.is_client and caller_id(ctx) != user_id:
        await permissions.require_team_permission(ctx.db, ctx.project, team_id, ctx.user.id, "$read_members")
    return await render(ctx, *await profiles.get(ctx.db, ctx.project, team_id, user_id))


@api("/team-member-profiles/{team_id}/{user_id}", "PATCH", params=PARAMS, body=UPDATE_BODY)
async def update_profile(ctx: Ctx):
    team_id, user_id = ctx.params["team_id"], ctx.params["user_id"]
    if ctx.is_client and caller_id(ctx) != user_id:
        raise StatusError(403, "Cannot update another user's profile")
    member, user = await profiles.get(ctx.db, ctx.project, team_id, user_id)
    url = ctx.body.get("profile_image_url")
    if url and url.startswith("data:") and not is_image_data_url(url):  # a link, or an inline image
        raise StatusError(400, "Invalid profile image URL")
    profiles.update(member, await with_stored_images(ctx, ctx.body, "team-member-profile-images"))
    await ctx.db.flush()
    return await render(ctx, member, user)
