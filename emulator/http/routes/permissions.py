"""/team-permissions and /project-permissions: list (direct or recursive), grant, revoke."""
from __future__ import annotations

import re

from emulator.domain.teams import permissions
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import json_response, success

api = RouteTable()

_PERMISSION_ID = re.compile(r"^\$?[a-z0-9_:]+$")


def _check_permission_id(value: str, path: str) -> str | None:
    if not _PERMISSION_ID.match(value):
        return f'{path} may only hold lowercase letters, digits, ":" and "_", with an optional leading "$"'
    if value.startswith("$") and value not in permissions.SYSTEM_TEAM_PERMISSIONS:
        return f"{path} is not a system permission: the $ ids are {', '.join(permissions.SYSTEM_TEAM_PERMISSIONS)}"
    return None


def permission_id(required: bool = False) -> v.Str:
    return v.Str(required=required, test=_check_permission_id)


LIST_FILTERS = {"user_id": UserIdOrMe(), "permission_id": permission_id(),
                "recursive": v.Str(one_of=("true", "false"))}
TEAM_GRANT_PARAMS = v.Obj({"team_id": v.Uuid(required=True), "user_id": UserIdOrMe(required=True),
                           "permission_id": permission_id(required=True)})
PROJECT_GRANT_PARAMS = v.Obj({"user_id": UserIdOrMe(required=True), "permission_id": permission_id(required=True)})
EMPTY_BODY = v.Obj({}, required=True)


def forbid_listing_others(ctx: Ctx) -> None:
    if ctx.is_client:
        if ctx.user is None:
            raise E.cannot_get_own_user_without_user()
        if ctx.query.get("user_id") != ctx.user.id:
            raise StatusError(403, 'Client can only list the permissions of its own user: user_id must be "me" or '
                                   "the signed-in user's id.")


@api("/team-permissions", "GET", query=v.Obj({"team_id": v.Uuid(), **LIST_FILTERS}))
async def list_team_permissions(ctx: Ctx):
    forbid_listing_others(ctx)
    q = ctx.query
    items = await permissions.list_team_permissions(
        ctx.db, ctx.project, team_id=q.get("team_id"), user_id=q.get("user_id"),
        permission_id=q.get("permission_id"), recursive=q.get("recursive") == "true")
    return {"items": items, "is_paginated": False}


@api("/team-permissions/{team_id}/{user_id}/{permission_id}", "POST", access=SERVER, params=TEAM_GRANT_PARAMS,
     body=EMPTY_BODY)
async def grant_team_permission(ctx: Ctx):
    p = ctx.params
    await permissions.require_membership(ctx.db, ctx.project, p["team_id"], p["user_id"])
    granted = await permissions.grant_team_permission(ctx.db, ctx.project, p["team_id"], p["user_id"],
                                                      p["permission_id"])
    return json_response(granted, 201)


@api("/team-permissions/{team_id}/{user_id}/{permission_id}", "DELETE", access=SERVER, params=TEAM_GRANT_PARAMS)
async def revoke_team_permission(ctx: Ctx):
    p = ctx.params
    await permissions.revoke_team_permission(ctx.db, ctx.project, p["team_id"], p["user_id"], p["permission_id"])
    return success()


@api("/project-permissions", "GET", query=v.Obj(LIST_FILTERS))
async def list_project_permissions(ctx: Ctx):
    forbid_listing_others(ctx)
    q = ctx.query
    items = await permissions.list_project_permissions(
        ctx.db, ctx.project, user_id=q.get("user_id"), permission_id=q.get("permission_id"),
        recursive=q.get("recursive") == "true")
    return {"items": items, "is_paginated": False}


@api("/project-permissions/{user_id}/{permission_id}", "POST", access=SERVER, params=PROJECT_GRANT_PARAMS,
     body=EMPTY_BODY)
async def grant_project_permission(ctx: Ctx):
    p = ctx.params
    await permissions.require_user(ctx.db, ctx.project, p["user_id"])
    granted = await permissions.grant_project_permission(ctx.db, ctx.project, p["user_id"], p["permission_id"])
    return json_response(granted, 201)


@api("/project-permissions/{user_id}/{permission_id}", "DELETE", access=SERVER, params=PROJECT_GRANT_PARAMS)
async def revoke_project_permission(ctx: Ctx):
    p = ctx.params
    await permissions.revoke_project_permission(ctx.db, ctx.project, p["user_id"], p["permission_id"])
    return success()
