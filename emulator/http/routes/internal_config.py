"""/internal/config: the rendered config, each level's override (get, patch, put, reset keys), the branch source."""
from __future__ import annotations

import json
from typing import Any

from emulator.domain.projects import config_levels
from emulator.errors import StatusError
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, SERVER, Ctx, RouteTable
from emulator.http.responses import success

api = RouteTable()

LEVEL = v.Obj({"level": v.Str(required=True, one_of=config_levels.LEVELS)})
RESET_LEVEL = v.Obj({"level": v.Str(required=True, one_of=("branch", "environment"))})

_GITHUB_FIELDS = ("owner", "repo", "branch", "commit_hash", "config_file_path")


def _check_source(value: Any, path: str) -> str | None:
    ok = isinstance(value, dict) and (
        value.get("type") in ("pushed-from-unknown", "unlinked")
        or (value.get("type") == "pushed-from-github" and all(isinstance(value.get(f), str) for f in _GITHUB_FIELDS)))
    if not ok:
        return (f'{path} must be {{type: "pushed-from-github", {", ".join(_GITHUB_FIELDS)}}} (all strings), '
                '{type: "pushed-from-unknown"} or {type: "unlinked"}')
    return None


def _source(value: dict[str, Any]) -> dict[str, Any]:
    fields = _GITHUB_FIELDS if value["type"] == "pushed-from-github" else ()
    return {"type": value["type"], **{f: value[f] for f in fields}}


def _level(ctx: Ctx) -> str:
    level = ctx.params["level"]
    if ctx.auth.access_type == "server" and level != "branch":
        raise StatusError(403, "Server access may only read and change the branch config override.")
    return level


@api("/internal/config", "GET", access=ADMIN)
async def get_config(ctx: Ctx):
    return {"config_string": json.dumps(ctx.project.config)}


@api("/internal/config/override/{level}", "GET", access=SERVER, params=LEVEL)
async def get_override(ctx: Ctx):
    level = _level(ctx)
    return {"config_string": json.dumps(await config_levels.get(ctx.db, ctx.state.projects, ctx.project.id, level))}


@api("/internal/config/override/{level}", "PATCH", access=SERVER, params=LEVEL,
     body=v.Obj({"config_override_string": v.Str(required=True)}, required=True))
async def patch_override(ctx: Ctx):
    level = _level(ctx)
    config_levels.check_api_writable(ctx.state.projects, ctx.project.id, level)
    change = config_levels.parse(level, ctx.body["config_override_string"])
    await config_levels.patch(ctx.db, ctx.state.projects, ctx.project.id, level, change)
    return success()


@api("/internal/config/override/{level}", "PUT", access=SERVER, params=LEVEL,
     body=v.Obj({"config_string": v.Str(required=True), "source": v.Schema(test=_check_source)}, required=True))
async def put_override(ctx: Ctx):
    level = _level(ctx)
    config_levels.check_api_writable(ctx.state.projects, ctx.project.id, level)
    override = config_levels.parse(level, ctx.body["config_string"])
    source = ctx.body.get("source")
    if level == "branch" and source is None:
        raise StatusError(400, "source is required for branch level config")
    await config_levels.put(ctx.db, ctx.state.projects, ctx.project.id, level, override)
    if level == "branch":
        await config_levels.set_source(ctx.db, ctx.project.id, _source(source))
    return success()


@api("/internal/config/override/{level}/reset-keys", "POST", access=ADMIN, params=RESET_LEVEL,
     body=v.Obj({"keys": v.Arr(v.Str(required=True), required=True)}, required=True))
async def reset_keys(ctx: Ctx):
    config_levels.check_api_writable(ctx.state.projects, ctx.project.id, ctx.params["level"])
    await config_levels.reset_keys(ctx.db, ctx.state.projects, ctx.project.id, ctx.params["level"], ctx.body["keys"])
    return success()


@api("/internal/config/source", "GET", access=ADMIN)
async def get_source(ctx: Ctx):
    return {"source": await config_levels.get_source(ctx.db, ctx.project.id)}


@api("/internal/config/source", "DELETE", access=ADMIN)
async def unlink_source(ctx: Ctx):
    await config_levels.set_source(ctx.db, ctx.project.id, config_levels.UNLINKED)
    return success()
