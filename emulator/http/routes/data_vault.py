"""The data vault: POST /data-vault/stores/{id}/set and /get (server access only)."""
from __future__ import annotations

from emulator.domain.projects import data_vault
from emulator.http import validation as v
from emulator.http.endpoint import SERVER, Ctx, RouteTable
from emulator.http.responses import success

api = RouteTable()

STORE = v.Obj({"id": v.Str(required=True)})
HASHED_KEY = v.Str(required=True, non_empty=True)


@api("/data-vault/stores/{id}/set", "POST", access=SERVER, params=STORE, body=v.Obj({
    "hashed_key": HASHED_KEY, "encrypted_value": v.Str(required=True)}, required=True))
async def set_value(ctx: Ctx):
    await data_vault.set_value(ctx.db, ctx.state.signer.secret, ctx.project, ctx.params["id"],
                               ctx.body["hashed_key"], ctx.body["encrypted_value"])
    return success()


@api("/data-vault/stores/{id}/get", "POST", access=SERVER, params=STORE, body=v.Obj({
    "hashed_key": HASHED_KEY}, required=True))
async def get_value(ctx: Ctx):
    value = await data_vault.get_value(ctx.db, ctx.state.signer.secret, ctx.project, ctx.params["id"],
                                       ctx.body["hashed_key"])
    return {"encrypted_value": value}
