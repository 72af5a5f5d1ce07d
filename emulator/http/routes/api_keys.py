"""/user-api-keys and /team-api-keys: create, list, read, update (description, revoke), and the server-side check;
/integrations/credential-scanning/revoke for leaked keys.

Both collections share one set of handlers, built per key type by `_routes`.
"""
from __future__ import annotations

import math

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.routing import Route

from emulator.domain.auth import api_keys as keys
from emulator.domain.mail import emails
from emulator.errors import E
from emulator.http import validation as v
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import success

api = RouteTable()

# JavaScript dates end at ±8.64e15 ms; larger numbers would not be a time (and would overflow SQLite's integers).
MAX_MILLIS = 8_640_000_000_000_000


class Millis(v.Int):
    """A timestamp in milliseconds: like yup's number(), fractions are accepted (and truncated when stored)."""

    def check(self, value, path):
        if not math.isfinite(value):
            return self.type_error(path, value)
        if abs(value) > MAX_MILLIS:
            return f"{path} must be less than or equal to {MAX_MILLIS}"
        return None


async def _not_allowed(request: Request):
    raise HTTPException(405)


def _routes(key_type: keys.KeyType) -> None:
    base = f"/{key_type}-api-keys"
    owner_field = f"{key_type}_id"
    # The user id takes `me`; a team id is any string on create but a UUID in the query (as the reference has it).
    create_owner = UserIdOrMe(required=True) if key_type == "user" else v.Str(required=True)
    query = v.Obj({"user_id": UserIdOrMe()} if key_type == "user" else {"team_id": v.Uuid(required=True)})
    create_body = v.Obj({"description": v.Str(required=True), "expires_at_millis": Millis(required=True, nullable=True),
                         "is_public": v.Bool(), owner_field: create_owner}, required=True)
    update_body = v.Obj({"description": v.Str(), "revoked": v.Bool(one_of=(True,))}, required=True)
    key_params = v.Obj({"api_key_id": v.Uuid(required=True)})

    async def manageable(ctx: Ctx):
        """The key of the path, after the feature and permission checks, in the reference's order."""
        keys.require_enabled(ctx.project, key_type)
        key = await keys.find(ctx.db, ctx.project, key_type, ctx.params["api_key_id"])
        await keys.check_manager(ctx.db, ctx.project, ctx.user, ctx.is_client,
                                 **{owner_field: key.user_id if key_type == "user" else key.team_id})
        return key

    # The literal /check path answers only POST, like the reference (405 for GET or PATCH rather than
    # reading "check" as a key id); it is registered before /{api_key_id}.
    @api(f"{base}/check", "POST", access=SERVER, body=v.Obj({"api_key": v.Str(required=True)}, required=True))
    async def check_key(ctx: Ctx):
        keys.require_enabled(ctx.project, key_type)
        return keys.shape(await keys.check(ctx.db, ctx.project, key_type, ctx.body["api_key"]))

    api.routes.append(Route(f"{base}/check", _not_allowed, methods=["GET", "PATCH", "PUT", "DELETE"]))

    @api(base, "POST", body=create_body)
    async def create_key(ctx: Ctx):
        keys.require_enabled(ctx.project, key_type)
        owner_id = ctx.body[owner_field]
        await keys.check_manager(ctx.db, ctx.project, ctx.user, ctx.is_client, **{owner_field: owner_id})
        key = await keys.create(ctx.db, ctx.project, key_type, owner_id, ctx.body)
        return keys.shape(key, first_view=True)

    @api(base, "GET", query=query)
    async def list_keys(ctx: Ctx):
        keys.require_enabled(ctx.project, key_type)
        owner_id = ctx.query.get(owner_field)
        if owner_id is None:  # only user_id is optional in the schema; listing every user's keys is refused
            raise E.schema(f"{owner_field} is required for {key_type} API keys")
        await keys.check_manager(ctx.db, ctx.project, ctx.user, ctx.is_client, **{owner_field: owner_id})
        found = await keys.list_keys(ctx.db, ctx.project, key_type, owner_id)
        return {"items": [keys.shape(k) for k in found], "is_paginated": False}

    # The query's owner id is validated but not used: the key's own owner decides who may see it.
    @api(f"{base}/{{api_key_id}}", "GET", params=key_params, query=query)
    async def read_key(ctx: Ctx):
        return keys.shape(await manageable(ctx))

    @api(f"{base}/{{api_key_id}}", "PATCH", params=key_params, query=query, body=update_body)
    async def update_key(ctx: Ctx):
        key = await manageable(ctx)
        keys.update(key, ctx.body)
        await ctx.db.flush()
        return keys.shape(key)


_routes("user")
_routes("team")


@api("/integrations/credential-scanning/revoke", "POST", access=SERVER,
     body=v.Obj({"api_key": v.Str(required=True)}, required=True))
async def revoke_leaked_key(ctx: Ctx):
    """Called by secret scanners: revokes a leaked secret key of any project and tells its owners."""
    key = await keys.revoke_leaked(ctx.db, ctx.body["api_key"])
    if key is not None:
        owner_project = await ctx.state.projects.view(ctx.db, key.project_id)
        for email in await keys.owners_to_notify(ctx.db, owner_project, key):
            await emails.send_template(ctx.db, ctx.state.mail, owner_project, email, "api_key_revoked",
                                       {"description": key.description})
    return success()
