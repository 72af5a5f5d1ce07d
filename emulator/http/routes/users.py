"""/users and /users/me."""
from __future__ import annotations


from emulator.domain.users import users
from emulator.domain.auth.passwords import MAX_LENGTH
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.routes.storage import with_stored_images
from emulator.http.validation import is_image_data_url
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import json_response, success

api = RouteTable()

CLIENT_UPDATE_FIELDS = {
    "display_name": v.Str(nullable=True, max_length=256),
    "profile_image_url": v.Url(nullable=True),
    "client_metadata": v.Json(),
    "selected_team_id": v.Uuid(nullable=True),
    "totp_secret_base64": v.Base64(nullable=True),
    "otp_auth_enabled": v.Bool(),
    "passkey_auth_enabled": v.Bool(),
    "primary_email": v.Email(nullable=True, non_empty=True),
}
SERVER_UPDATE_FIELDS = {
    **CLIENT_UPDATE_FIELDS,
    "client_read_only_metadata": v.Json(),
    "server_metadata": v.Json(),
    "primary_email_verified": v.Bool(),
    "primary_email_auth_enabled": v.Bool(),
    "password": v.Str(nullable=True, max_length=MAX_LENGTH),
    "password_hash": v.Str(nullable=True),
    "is_anonymous": v.Bool(one_of=(False,)),
    "restricted_by_admin": v.Bool(),
    "restricted_by_admin_reason": v.Str(nullable=True),
    "restricted_by_admin_private_details": v.Str(nullable=True),
    "country_code": v.Str(nullable=True, pattern=r"^[A-Za-z]{2}$"),
    "risk_scores": v.Obj({"sign_up": v.Obj({"bot": v.Int(min_value=0, max_value=100, required=True),
                                            "free_trial_abuse": v.Int(min_value=0, max_value=100, required=True)},
                                           required=True)}),
}
SERVER_CREATE_FIELDS = {
    **{k: s for k, s in SERVER_UPDATE_FIELDS.items() if k not in ("selected_team_id", "is_anonymous")},
    "is_anonymous": v.Bool(),
    "oauth_providers": v.Arr(v.Obj({"id": v.Str(required=True), "account_id": v.Str(required=True),
                                    "email": v.Str(nullable=True)})),
}


def restriction_consistency(body: dict, path: str) -> str | None:
    """The platform's schema test: a reason or private details only together with restricted_by_admin: true."""
    if body.get("restricted_by_admin") is not True:
        for field in ("restricted_by_admin_reason", "restricted_by_admin_private_details"):
            if body.get(field) is not None:
                return f"{field} must be null when restricted_by_admin is not true"
    return None


def update_body(access_type: str | None) -> v.Obj:
    if access_type == "client":
        return v.Obj(CLIENT_UPDATE_FIELDS, required=True)
    return v.Obj(SERVER_UPDATE_FIELDS, required=True, test=restriction_consistency)


USER_PARAMS = v.Obj({"user_id": UserIdOrMe(required=True)})
# One query schema for every /users route, as the platform's users CRUD has: the single-user routes accept (and
# ignore) the list's filters, e.g. GET /users/{id}?include_anonymous=true.
LIST_QUERY = v.Obj({
    "team_id": v.Uuid(), "limit": v.Int(min_value=1, max_value=1000), "cursor": v.Uuid(),
    "order_by": v.Str(one_of=("signed_up_at", "last_active_at")), "desc": v.Str(one_of=("true", "false")),
    "query": v.Str(), "include_anonymous": v.Str(one_of=("true", "false")),
    "only_anonymous": v.Str(one_of=("true", "false")), "include_restricted": v.Str(one_of=("true", "false")),
})


async def shape_for(ctx: Ctx, user) -> dict:
    server = await users.render(ctx.db, user, ctx.project)
    return users.client_shape(server) if ctx.is_client else server


async def update(ctx: Ctx, user) -> dict:
    body = ctx.body
    if ctx.is_client and body.get("profile_image_url") and not is_image_data_url(body["profile_image_url"]):
        raise StatusError(400, "Invalid profile image URL")
    body = await with_stored_images(ctx, body, "user-profile-images")
    await users.update(ctx.db, ctx.project, user, body, rounds=ctx.state.settings.bcrypt_rounds)
    return await shape_for(ctx, user)




def me(ctx: Ctx):
    if ctx.user is None:
        raise E.cannot_get_own_user_without_user()
    return ctx.user


@api("/users/me", "GET", load_user=False)
async def get_me(ctx: Ctx):
    # The most frequent request of all: served from a render cached until the next write, not the ORM.
    server = None
    if ctx.auth is not None and ctx.auth.user_id is not None:
        server = await users.render_cached(ctx.db, ctx.state.db.reads, ctx.project, ctx.auth.user_id)
    if server is None:
        raise E.cannot_get_own_user_without_user()
    return users.client_shape(server) if ctx.is_client else server


@api("/users/me", "PATCH", body=update_body)
async def update_me(ctx: Ctx):
    return await update(ctx, me(ctx))


@api("/users/me", "DELETE")
async def delete_me(ctx: Ctx):
    user = me(ctx)
    if ctx.is_client and not ctx.project.config["users"]["allowClientUserDeletion"]:
        raise StatusError(400, "Client user deletion is not enabled for this project")
    await users.delete_user(ctx.db, ctx.project, user)
    return success()


@api("/users", "GET", access=SERVER, query=LIST_QUERY)
async def list_users(ctx: Ctx):
    q = {k: (val == "true" if k in ("desc", "include_anonymous", "only_anonymous", "include_restricted") else val)
         for k, val in ctx.query.items()}
    return await users.list_users(ctx.db, ctx.project, q)


@api("/users", "POST", access=SERVER, body=v.Obj(SERVER_CREATE_FIELDS, required=True, test=restriction_consistency))
async def create_user(ctx: Ctx):
    body = await with_stored_images(ctx, ctx.body, "user-profile-images")
    user = await users.create(ctx.db, ctx.project, body, rounds=ctx.state.settings.bcrypt_rounds)
    shape = await users.render(ctx.db, user, ctx.project)
    # The platform answers with the user as read before its personal team is created and selected; reads after
    # this one show the team.
    shape.update(selected_team=None, selected_team_id=None)
    return json_response(shape, 201)


@api("/users/{user_id}", "GET", access=SERVER, params=USER_PARAMS, query=LIST_QUERY)
async def get_user(ctx: Ctx):
    return await shape_for(ctx, await users.require(ctx.db, ctx.project, ctx.params["user_id"]))


@api("/users/{user_id}", "PATCH", access=SERVER, params=USER_PARAMS, query=LIST_QUERY, body=update_body)
async def update_user(ctx: Ctx):
    return await update(ctx, await users.require(ctx.db, ctx.project, ctx.params["user_id"]))


@api("/users/{user_id}", "DELETE", access=SERVER, params=USER_PARAMS, query=LIST_QUERY)
async def delete_user(ctx: Ctx):
    await users.delete_user(ctx.db, ctx.project, await users.require(ctx.db, ctx.project, ctx.params["user_id"]))
    return success()

