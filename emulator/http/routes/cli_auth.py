"""CLI login: /auth/cli (start), /auth/cli/poll (the CLI waits), /auth/cli/complete (the browser answers)."""
from __future__ import annotations

from emulator.clock import iso_from_millis
from emulator.domain.auth import cli_auth
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable
from emulator.http.responses import json_response

api = RouteTable()


@api("/auth/cli", "POST", body=v.Obj({
    "expires_in_millis": v.Int(max_value=cli_auth.MAX_LIFETIME_MILLIS, default=cli_auth.DEFAULT_LIFETIME_MILLIS),
    "anon_refresh_token": v.Str()}))
async def start_cli_login(ctx: Ctx):
    body = ctx.body if isinstance(ctx.body, dict) else {}  # the body is optional
    attempt = await cli_auth.start(
        ctx.db, ctx.project, anon_refresh_token=body.get("anon_refresh_token"),
        expires_in_millis=body.get("expires_in_millis", cli_auth.DEFAULT_LIFETIME_MILLIS))
    return {"polling_code": attempt.polling_code, "login_code": attempt.login_code,
            "expires_at": iso_from_millis(attempt.expires_at_millis)}


@api("/auth/cli/poll", "POST", body=v.Obj({"polling_code": v.Str(required=True)}, required=True))
async def poll_cli_login(ctx: Ctx):
    status, refresh_token = await cli_auth.poll(ctx.db, ctx.project, ctx.body["polling_code"])
    if refresh_token is None:
        return {"status": status}
    return json_response({"status": status, "refresh_token": refresh_token}, 201)


@api("/auth/cli/complete", "POST", body=v.Obj({
    "login_code": v.Str(required=True),
    "mode": v.Str(one_of=("check", "claim-anon-session", "complete"), default="complete"),
    "refresh_token": v.Str()}, required=True))
async def complete_cli_login(ctx: Ctx):
    return await cli_auth.complete(ctx.db, ctx.state.signer, ctx.project, login_code=ctx.body["login_code"],
                                   mode=ctx.body["mode"], refresh_token=ctx.body.get("refresh_token"))
