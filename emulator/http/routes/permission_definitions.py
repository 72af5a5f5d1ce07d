"""/team-permission-definitions and /project-permission-definitions (admin): list, create, update, delete."""
from __future__ import annotations

import re

from emulator.domain.teams import permission_definitions as defs
from emulator.domain.teams.permissions import definitions
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, Ctx, RouteTable
from emulator.http.responses import json_response, success
from emulator.http.routes.permissions import permission_id

api = RouteTable()

_CUSTOM_ID = re.compile(r"^[a-z0-9_:]+$")


def _check_custom_id(value: str, path: str) -> str | None:
    if not _CUSTOM_ID.match(value):
        return f'{path} may only hold lowercase letters, digits, ":" and "_"'
    return None


def _body(id_required: bool) -> v.Obj:
    return v.Obj({"id": v.Str(required=id_required, test=_check_custom_id), "description": v.Str(),
                  "contained_permission_ids": v.Arr(permission_id(required=True))}, required=True)


PARAMS = v.Obj({"permission_id": permission_id(required=True)})


def _routes(scope: str) -> None:
    base = f"/{scope}-permission-definitions"

    @api(base, "GET", access=ADMIN)
    async def list_definitions(ctx: Ctx):
        return {"items": list(definitions(ctx.project.config, scope).values()), "is_paginated": False}

    @api(base, "POST", access=ADMIN, body=_body(True))
    async def create_definition(ctx: Ctx):
        return json_response(await defs.create(ctx.db, ctx.state.projects, ctx.project, scope, ctx.body), 201)

    @api(base + "/{permission_id}", "PATCH", access=ADMIN, params=PARAMS, body=_body(False))
    async def update_definition(ctx: Ctx):
        return await defs.update(ctx.db, ctx.state.projects, ctx.project, scope, ctx.params["permission_id"], ctx.body)

    @api(base + "/{permission_id}", "DELETE", access=ADMIN, params=PARAMS)
    async def delete_definition(ctx: Ctx):
        await defs.remove(ctx.db, ctx.state.projects, ctx.project, scope, ctx.params["permission_id"])
        return success()


_routes("team")
_routes("project")
