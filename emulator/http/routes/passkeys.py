"""/auth/passkey/*: passkey registration for the signed-in user and passkey sign-in (see domain/passkeys.py)."""
from __future__ import annotations

from emulator.domain.auth import passkeys, sessions
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable
from emulator.http.routes.auth import CODE

api = RouteTable()


@api("/auth/passkey/initiate-passkey-registration", "POST", user_required=True)
async def initiate_registration(ctx: Ctx):
    return await passkeys.initiate_registration(ctx.db, ctx.project, ctx.user)


@api("/auth/passkey/register", "POST", user_required=True, body=v.Obj({
    "credential": v.Json(required=True), "code": CODE}, required=True))
async def register(ctx: Ctx):
    return await passkeys.register(ctx.db, ctx.project, ctx.user, ctx.body["code"], ctx.body["credential"])


@api("/auth/passkey/initiate-passkey-authentication", "POST")
async def initiate_authentication(ctx: Ctx):
    return await passkeys.initiate_authentication(ctx.db, ctx.project)


@api("/auth/passkey/sign-in", "POST", body=v.Obj({
    "authentication_response": v.Json(required=True), "code": CODE}, required=True))
async def sign_in(ctx: Ctx):
    user = await passkeys.authenticate(ctx.db, ctx.project, ctx.body["code"], ctx.body["authentication_response"])
    # Passkeys are a first factor: a user with TOTP continues at /auth/mfa/sign-in, as after a password.
    return {**await sessions.sign_in_unless_mfa(ctx.db, ctx.state.signer, ctx.project, user), "is_new_user": False}
