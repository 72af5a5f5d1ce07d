"""The emulator's test-kit API (no project keys, like the inbox): health, the app environment, reset, snapshots,
export, and throwaway projects for one test.

Snapshot and export routes are plain Starlette routes: they take the store between sessions (the `endpoint`
wrapper would hold a session open around them)."""
from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import __version__, clock
from emulator.domain.projects import project_admin, testkit
from emulator.domain.projects.projects import INTERNAL_PROJECT_ID
from emulator.environment import app_environment
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable
from emulator.http.responses import json_response, success, text_response
from emulator.http.routes.clock import OFFSET_KEY
from emulator.store import snapshots
from emulator.store.models import Project

api = RouteTable()


async def health(request: Request) -> Response:
    state = request.app.state.emu
    if not state.started_at:
        return json_response({"status": "starting", "version": __version__}, 503)
    return json_response({"status": "ok", "version": __version__,
                          "uptime_seconds": round(time.monotonic() - state.started_at, 3),
                          "project_id": state.config_project_id})


async def environment(request: Request) -> Response:
    return json_response(request.app.state.emu.environment)


def _optional_body(ctx: Ctx) -> dict:
    return ctx.body if isinstance(ctx.body, dict) else {}  # these bodies may be left out entirely


async def _project_exists(ctx: Ctx, project_id: str) -> bool:
    return (await ctx.db.execute(select(Project.id).where(Project.id == project_id))).scalar() is not None


async def reset(request: Request) -> Response:
    """Body (optional): {"project_id": …} to reset one project only."""
    state = request.app.state.emu
    try:
        body = await _json_body(request)
    except ValueError as exc:
        return text_response(f"Reset request rejected: {exc}", 400)
    unknown = set(body) - {"project_id"}
    project_id = body.get("project_id")
    if unknown or not isinstance(project_id, (str, type(None))):
        return text_response('Reset request rejected: the body may only hold "project_id" (a string)', 400)
    if not await testkit.reset(state.db, state.projects, state.settings.bcrypt_rounds, project_id):
        return text_response(f"No project {project_id!r} in this emulator", 404)
    return success()


def project_shape(state, row: Project, keys) -> dict:
    return {"id": row.id, "display_name": row.display_name, "created_at_millis": row.created_at_millis,
            "publishable_client_key": keys.publishable_client_key,
            "secret_server_key": keys.secret_server_key, "super_secret_admin_key": keys.super_secret_admin_key,
            "env": {**{k: val for k, val in state.environment.items() if k.startswith("HEXCLAVE_EMULATOR_")},
                    **app_environment(state.settings.base_url, row.id, keys.publishable_client_key,
                                      keys.secret_server_key, keys.super_secret_admin_key)}}


@api("/emulator/projects", "POST", access=None, body=v.Obj({"display_name": v.Str()}))
async def create_project(ctx: Ctx):
    row, keys = await testkit.create_project(ctx.db, ctx.state.projects, ctx.state.config_project_id,
                                             _optional_body(ctx).get("display_name"))
    return json_response(project_shape(ctx.state, row, keys), 201)


@api("/emulator/projects/{project_id}", "DELETE", access=None, params=v.Obj({"project_id": v.Str()}))
async def delete_project(ctx: Ctx):
    project_id = ctx.params["project_id"]
    if project_id == INTERNAL_PROJECT_ID or project_id in ctx.state.projects.files:
        return text_response("The internal project and config-file projects cannot be deleted; reset them instead",
                             400)
    if not await _project_exists(ctx, project_id):
        return text_response(f"No project {project_id!r} in this emulator", 404)
    await project_admin.delete_project(ctx.db, ctx.state.projects, project_id)
    return success()


# ---------------------------------------------------------------- snapshots and export

async def _json_body(request: Request) -> dict:
    """An optional JSON object body; ValueError (SnapshotError for the snapshot routes) when it is something else."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise snapshots.SnapshotError("the body must be a JSON object")
    return body


def _snapshot_route(handler):
    """Bad names and bodies answer 400 with the reason."""
    async def run(request: Request) -> Response:
        try:
            return await handler(request, request.app.state.emu)
        except snapshots.SnapshotError as exc:
            return text_response(f"Snapshot request rejected: {exc}", 400)
    return run


def _not_found(name: str) -> Response:
    return text_response(f"No snapshot named {name!r}", 404)


@_snapshot_route
async def save_snapshot(request: Request, state) -> Response:
    name = (await _json_body(request)).get("name")
    return json_response(await state.snapshots.save(state.db, name), 201)


@_snapshot_route
async def list_snapshots(request: Request, state) -> Response:
    return json_response({"items": state.snapshots.list()})


@_snapshot_route
async def restore_snapshot(request: Request, state) -> Response:
    name = request.path_params["name"]
    # The clock keeps its time (it never runs backwards), whatever offset the snapshot remembers.
    if not await state.snapshots.restore(state.db, name, keep_meta={OFFSET_KEY: str(clock.offset_seconds())}):
        return _not_found(name)
    state.projects.forget()
    return success()


@_snapshot_route
async def delete_snapshot(request: Request, state) -> Response:
    name = request.path_params["name"]
    return success() if state.snapshots.delete(name) else _not_found(name)


async def export(request: Request) -> Response:
    """The whole store as one SQLite file (what `start --import` reads)."""
    state = request.app.state.emu
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "export.sqlite3"
        await snapshots.export_file(state.db, path)
        content = path.read_bytes()
    return Response(content, media_type="application/vnd.sqlite3",
                    headers={"content-disposition": 'attachment; filename="hexclave-emulator.sqlite3"'})


REQUESTS_QUERY = v.Obj({"project_id": v.Str(), "status": v.Str(), "path": v.Str(), "limit": v.Int(min_value=1)})


@api("/emulator/requests", "GET", access=None, query=REQUESTS_QUERY)
async def list_requests(ctx: Ctx):
    """The last API requests with their bodies and answers, newest first (what the Requests page shows)."""
    query = ctx.query
    return {"items": ctx.state.request_log.select(project_id=query.get("project_id"), status=query.get("status"),
                                                  path=query.get("path"), limit=min(query.get("limit") or 100, 500))}


@api("/emulator/requests", "DELETE", access=None)
async def clear_requests(ctx: Ctx):
    ctx.state.request_log.entries.clear()
    return success()


routes = [Route("/emulator/health", health, methods=["GET"]),
          Route("/emulator/reset", reset, methods=["POST"]),
          Route("/emulator/env", environment, methods=["GET"]),
          Route("/emulator/export", export, methods=["GET"]),
          Route("/emulator/snapshots", save_snapshot, methods=["POST"]),
          Route("/emulator/snapshots", list_snapshots, methods=["GET"]),
          Route("/emulator/snapshots/{name}/restore", restore_snapshot, methods=["POST"]),
          Route("/emulator/snapshots/{name}", delete_snapshot, methods=["DELETE"]),
          *api.routes]
