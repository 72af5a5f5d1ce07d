"""/team-invitations: send, list, revoke, and accept (by code or by id)."""
from __future__ import annotations

from emulator.domain.auth import codes
from emulator.domain.teams import invitations, permissions, teams
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import success

api = RouteTable()

CODE_BODY = v.Obj({"code": v.Str(required=True, min_length=codes.CODE_LENGTH, max_length=codes.CODE_LENGTH)},
                  required=True)
ID_PARAMS = v.Obj({"id": v.Uuid(required=True)})
# List and revoke share one query schema, as upstream.
QUERY = v.Obj({"team_id": v.Uuid(), "user_id": UserIdOrMe()})


def caller_id(ctx: Ctx) -> str:
    if ctx.user is None:
        raise E.cannot_get_own_user_without_user()
    return ctx.user.id


async def require_all(ctx: Ctx, team_id: str, *permission_ids: str):
    """The team, once client access holds every permission in it (membership is checked first)."""
    if ctx.is_client:
        user_id = caller_id(ctx)
        for permission_id in permission_ids:
            await permissions.require_team_permission(ctx.db, ctx.project, team_id, user_id, permission_id)
    return await teams.require(ctx.db, ctx.project, team_id)


# Literal routes first, so `accept` is never read as an invitation id.
@api("/team-invitations/send-code", "POST", body=v.Obj({
    "team_id": v.Uuid(required=True), "email": v.Email(required=True), "callback_url": v.Url(required=True)},
    required=True))
async def send_code(ctx: Ctx):
    team_id = ctx.body["team_id"]
    if ctx.is_client:
        if ctx.user is None:
            raise E.user_authentication_required()
        await permissions.require_team_permission(ctx.db, ctx.project, team_id, ctx.user.id, "$invite_members")
    invitation_id = await invitations.send(ctx.db, ctx.state.mail, ctx.project, team_id, ctx.body["email"],
                                           ctx.body["callback_url"])
    return {"success": True, "id": invitation_id}


@api("/team-invitations/accept", "POST", body=CODE_BODY)
async def accept(ctx: Ctx):
    await invitations.accept_code(ctx.db, ctx.project, ctx.body["code"], ctx.user)
    return {}


@api("/team-invitations/accept/check-code", "POST", body=CODE_BODY)
async def accept_check_code(ctx: Ctx):
    await invitations.check_code(ctx.db, ctx.project, ctx.body["code"])
    return {"is_code_valid": True}


@api("/team-invitations/accept/details", "POST", body=CODE_BODY)
async def accept_details(ctx: Ctx):
    return await invitations.details(ctx.db, ctx.project, ctx.body["code"], ctx.user)


@api("/team-invitations", "GET", query=QUERY)
async def list_invitations(ctx: Ctx):
    team_id, user_id = ctx.query.get("team_id"), ctx.query.get("user_id")
    if team_id and user_id:
        raise StatusError(400, "Pass either team_id or user_id to list team invitations, not both.")
    if not team_id and not user_id:
        raise StatusError(400, "Pass team_id (a team's invitations) or user_id (invitations to a user) to list team "
                               "invitations.")
    if user_id:
        if ctx.is_client and caller_id(ctx) != user_id:
            raise E.cannot_get_own_user_without_user()
        items = await invitations.list_for_user(ctx.db, ctx.project, user_id)
    else:
        team = await require_all(ctx, team_id, "$read_members", "$invite_members")
        items = await invitations.list_for_team(ctx.db, ctx.project, team)
    return {"items": items, "is_paginated": False}


@api("/team-invitations/{id}", "DELETE", params=ID_PARAMS, query=QUERY)
async def revoke(ctx: Ctx):
    team_id = ctx.query.get("team_id")
    if not team_id:
        raise StatusError(400, "team_id is required to revoke a team invitation.")
    await require_all(ctx, team_id, "$remove_members")
    await invitations.revoke(ctx.db, ctx.project, team_id, ctx.params["id"])
    return success()


@api("/team-invitations/{id}/accept", "POST", params=ID_PARAMS, query=v.Obj({"user_id": UserIdOrMe(required=True)}))
async def accept_by_id(ctx: Ctx):
    user_id = ctx.query["user_id"]
    if ctx.is_client:
        # Upstream answers a client naming someone else as if it had no user at all.
        if caller_id(ctx) != user_id:
            raise E.cannot_get_own_user_without_user()
        invitations.check_invitee(ctx.project, ctx.user)
    await invitations.accept_by_id(ctx.db, ctx.project, ctx.params["id"], user_id)
    return {}
