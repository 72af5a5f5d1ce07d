"""The dashboard's project API: /internal/projects, /internal/projects/current, /internal/api-keys and the official
emulator's /internal/local-emulator/project."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from emulator.domain.projects import config as config_mod
from emulator.domain.mail import email_templates
from emulator.domain.projects import metrics, project_admin, projects
from emulator.clock import now_millis
from emulator.errors import E, StatusError
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, Ctx, RouteTable
from emulator.http.responses import json_response, success
from emulator.http.routes.storage import with_stored_images
from emulator.store.models import ApiKeySet, Project

api = RouteTable()

PERMISSION_LIST = v.Arr(v.Obj({"id": v.Str(required=True)}))
LEGACY_CONFIG = v.Obj({
    **{name: v.Bool() for name in (
        "sign_up_enabled", "credential_enabled", "magic_link_enabled", "passkey_enabled",
        "client_team_creation_enabled", "client_user_deletion_enabled", "allow_localhost", "allow_user_api_keys",
        "allow_team_api_keys", "create_team_on_sign_up", "require_email_verification")},
    "email_config": v.Obj(
        {"type": v.Str(required=True, one_of=("shared", "standard")), "host": v.Str(), "port": v.Int(),
         "username": v.Str(), "password": v.Str(), "sender_name": v.Str(), "sender_email": v.Email()},
        when=("type", "standard", {"host": v.Str(required=True, non_empty=True), "port": v.Int(required=True),
                                   **{f: v.Str(required=True, non_empty=True)
                                      for f in ("username", "password", "sender_name")},
                                   "sender_email": v.Email(required=True, non_empty=True)})),
    "email_theme": v.Str(),
    "domains": v.Arr(v.Obj({"domain": v.Url(required=True, pattern=r"^https?://",
                                            pattern_message="URL must start with http:// or https://"),
                            "handler_path": v.Str(required=True)})),
    "oauth_providers": v.Arr(v.Obj(
        {"id": v.Str(required=True), "type": v.Str(required=True, one_of=("shared", "standard")),
         "client_id": v.Str(), "client_secret": v.Str(), "facebook_config_id": v.Str(),
         "microsoft_tenant_id": v.Str(), "apple_bundle_ids": v.Arr(v.Str())},
        when=("type", "standard", {"client_id": v.Str(required=True, non_empty=True),
                                   "client_secret": v.Str(required=True, non_empty=True)}))),
    "team_creator_default_permissions": PERMISSION_LIST,
    "team_member_default_permissions": PERMISSION_LIST,
    "user_default_permissions": PERMISSION_LIST,
    "oauth_account_merge_strategy": v.Str(one_of=("link_method", "raise_error", "allow_duplicates")),
})
PROJECT_UPDATE_FIELDS = {
    "display_name": v.Str(), "description": v.Str(nullable=True),
    **{f: v.Url(nullable=True) for f in project_admin.LOGO_FIELDS},
    "is_production_mode": v.Bool(), "onboarding_status": v.Str(), "config": LEGACY_CONFIG,
}
PROJECT_CREATE_BODY = v.Obj({**PROJECT_UPDATE_FIELDS, "display_name": v.Str(required=True),
                             "owner_team_id": v.Uuid(required=True),
                             "is_development_environment": v.Bool()}, required=True)
KEY_SET_PARAMS = v.Obj({"api_key_id": v.Uuid(required=True)})


async def dashboard_user(ctx: Ctx):
    """The signed-in user of the internal project, for whom /internal/projects lists and creates projects."""
    if ctx.user is None:
        raise E.user_authentication_required()
    if ctx.project.id != projects.INTERNAL_PROJECT_ID:
        raise E.expected_internal_project()
    return ctx.user


async def admin_view(ctx: Ctx, row: Project) -> dict:
    return project_admin.admin_shape(row, await ctx.state.projects.view(ctx.db, row.id))


@api("/internal/projects", "POST", body=PROJECT_CREATE_BODY)
async def create_project(ctx: Ctx):
    user = await dashboard_user(ctx)
    body = await with_stored_images(ctx, ctx.body, "project-logos", project_admin.LOGO_FIELDS)
    row = await project_admin.create_project(ctx.db, ctx.state.projects, ctx.project, user, body)
    return json_response(await admin_view(ctx, row), 201)


@api("/internal/projects", "GET")
async def list_projects(ctx: Ctx):
    user = await dashboard_user(ctx)
    ids = await project_admin.owned_project_ids(ctx.db, user)
    rows = {r.id: r for r in (await ctx.db.execute(select(Project).where(Project.id.in_(ids)))).scalars()}
    return {"items": [await admin_view(ctx, rows[i]) for i in ids], "is_paginated": False}


@api("/internal/projects/transfer", "POST",
     body=v.Obj({"project_id": v.Str(required=True), "new_team_id": v.Str(required=True)}, required=True))
async def transfer_project(ctx: Ctx):
    user = await dashboard_user(ctx)
    await project_admin.transfer_project(ctx.db, ctx.project, user, ctx.body["project_id"], ctx.body["new_team_id"])
    return {"success": "true"}


async def current_row(ctx: Ctx) -> Project:
    row = await ctx.db.get(Project, ctx.project.id)
    if row is None:
        raise E.current_project_not_found(ctx.project.id)
    return row


@api("/internal/projects/current", "GET", access=ADMIN)
async def get_current(ctx: Ctx):
    return await admin_view(ctx, await current_row(ctx))


@api("/internal/projects/current", "PATCH", access=ADMIN, body=v.Obj(PROJECT_UPDATE_FIELDS, required=True))
async def update_current(ctx: Ctx):
    row = await current_row(ctx)
    theme = (ctx.body.get("config") or {}).get("email_theme")
    if theme and theme not in ctx.project.config["emails"]["themes"] and theme not in email_templates.THEMES:
        raise StatusError(400, "Invalid email theme")
    body = await with_stored_images(ctx, ctx.body, "project-logos", project_admin.LOGO_FIELDS)
    await project_admin.update_project(ctx.db, ctx.state.projects, row, body)
    return await admin_view(ctx, row)


@api("/internal/projects/current", "DELETE", access=ADMIN)
async def delete_current(ctx: Ctx):
    if ctx.project.id == projects.INTERNAL_PROJECT_ID:
        raise StatusError(400, "The internal project cannot be deleted.")
    await project_admin.delete_project(ctx.db, ctx.state.projects, ctx.project.id)
    return success()


@api("/internal/metrics", "GET", access=ADMIN,
     query=v.Obj({"include_anonymous": v.Str(one_of=("true", "false"))}))
async def get_metrics(ctx: Ctx):
    return await metrics.metrics(ctx.db, ctx.project, ctx.query.get("include_anonymous") == "true")


# ---- project key sets ---------------------------------------------------------------------------------------------

@api("/internal/api-keys", "POST", access=ADMIN, body=v.Obj({
    "description": v.Str(required=True), "expires_at_millis": v.Int(required=True),
    "has_publishable_client_key": v.Bool(required=True), "has_secret_server_key": v.Bool(required=True),
    "has_super_secret_admin_key": v.Bool(required=True)}, required=True))
async def create_key_set(ctx: Ctx):
    row = await project_admin.create_key_set(ctx.db, ctx.state.projects, ctx.project.id, ctx.body)
    return project_admin.key_set_shape(row, first_view=True)


@api("/internal/api-keys", "GET", access=ADMIN)
async def list_key_sets(ctx: Ctx):
    rows = await ctx.db.execute(select(ApiKeySet).where(ApiKeySet.project_id == ctx.project.id)
                                .order_by(ApiKeySet.created_at_millis.desc()))
    return {"items": [project_admin.key_set_shape(r) for r in rows.scalars()], "is_paginated": False}


@api("/internal/api-keys/{api_key_id}", "GET", access=ADMIN, params=KEY_SET_PARAMS)
async def get_key_set(ctx: Ctx):
    return project_admin.key_set_shape(await project_admin.require_key_set(ctx.db, ctx.project.id,
                                                                          ctx.params["api_key_id"]))


@api("/internal/api-keys/{api_key_id}", "PATCH", access=ADMIN, params=KEY_SET_PARAMS,
     body=v.Obj({"description": v.Str(), "revoked": v.Bool(one_of=(True,))}, required=True))
async def update_key_set(ctx: Ctx):
    row = await project_admin.require_key_set(ctx.db, ctx.project.id, ctx.params["api_key_id"])
    if "description" in ctx.body:
        row.description = ctx.body["description"]
    if ctx.body.get("revoked") and row.manually_revoked_at_millis is None:
        row.manually_revoked_at_millis = now_millis()
    await ctx.db.flush()
    ctx.state.projects.forget(ctx.project.id)  # a revoked set stops working on the very next request
    return project_admin.key_set_shape(row)


@api("/internal/api-keys/{api_key_id}", "DELETE", access=ADMIN, params=KEY_SET_PARAMS)
async def delete_key_set(ctx: Ctx):
    row = await project_admin.require_key_set(ctx.db, ctx.project.id, ctx.params["api_key_id"])
    await ctx.db.delete(row)
    ctx.state.projects.forget(ctx.project.id)
    return success()


# ---- the official emulator's project mapping ----------------------------------------------------------------------

@api("/internal/local-emulator/project", "POST",
     body=v.Obj({"absolute_file_path": v.Str(required=True)}, required=True))
async def local_emulator_project(ctx: Ctx):
    if ctx.project.id != projects.INTERNAL_PROJECT_ID:
        raise E.expected_internal_project()
    path = Path(ctx.body["absolute_file_path"])
    if not path.is_absolute():
        raise StatusError(400, "absolute_file_path must be an absolute path.")
    if path.name not in config_mod.CONFIG_FILE_NAMES:  # the file is executed: never any other file on disk
        raise StatusError(400, "Only config files may be loaded: the file must be named hexclave.config.EXT or "
                               "stack.config.EXT, with EXT one of py, ts, js, mts, mjs.")
    if not path.is_file():
        raise StatusError(400, f"Config file not found: {path}")
    try:
        project, keys = await project_admin.local_emulator_project(ctx.db, ctx.state.projects, path)
    except config_mod.ConfigFileError as error:
        raise StatusError(400, f"The config file cannot be used: {error}") from None
    override = ctx.state.projects.files[project.id].override
    return {"project_id": project.id, "publishable_client_key": keys.publishable_client_key,
            "secret_server_key": keys.secret_server_key, "super_secret_admin_key": keys.super_secret_admin_key,
            "branch_config_override_string": json.dumps(override)}
