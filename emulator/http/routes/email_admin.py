"""/internal/email-themes, /internal/email-templates, /internal/email-drafts, /internal/emails (admin) and
/emails/render-email: the dashboard's email surface (emulator.domain.mail.email_admin)."""
from __future__ import annotations

from emulator.domain.mail import email_admin
from emulator.http import validation as v
from emulator.http.endpoint import ADMIN, Ctx, RouteTable

api = RouteTable()


def _theme_id_test(value, path):
    """The platform's template theme id: a UUID, false (no theme) or null (the project's theme)."""
    if value is None or value is False or (isinstance(value, str) and v.Uuid().check(value, path) is None):
        return None
    return f"{path} is invalid"


def theme_id_field() -> v.Schema:
    return v.Json(test=_theme_id_test)


NAME_BODY = v.Obj({"display_name": v.Str(required=True)})  # optional as a whole upstream: its fields still count

# ---------------------------------------------------------------- themes


@api("/internal/email-themes", "GET", access=ADMIN)
async def list_themes(ctx: Ctx):
    return email_admin.list_themes(ctx.project)


@api("/internal/email-themes", "POST", access=ADMIN, body=NAME_BODY)
async def create_theme(ctx: Ctx):
    return await email_admin.create_theme(ctx.db, ctx.state.projects, ctx.project, ctx.body["display_name"])


@api("/internal/email-themes/{id}", "GET", access=ADMIN, params=v.Obj({"id": v.Uuid(required=True)}))
async def get_theme(ctx: Ctx):
    return email_admin.get_theme(ctx.project, ctx.params["id"])


@api("/internal/email-themes/{id}", "PATCH", access=ADMIN, params=v.Obj({"id": v.Str(required=True)}),
     body=v.Obj({"tsx_source": v.Str(required=True)}, required=True))
async def update_theme(ctx: Ctx):
    return await email_admin.update_theme(ctx.db, ctx.state.projects, ctx.project, ctx.params["id"],
                                          ctx.body["tsx_source"])


# ---------------------------------------------------------------- templates

TEMPLATE_PARAMS = v.Obj({"templateId": v.Uuid(required=True)})


@api("/internal/email-templates", "GET", access=ADMIN)
async def list_templates(ctx: Ctx):
    return email_admin.list_templates(ctx.project)


@api("/internal/email-templates", "POST", access=ADMIN, body=NAME_BODY)
async def create_template(ctx: Ctx):
    return await email_admin.create_template(ctx.db, ctx.state.projects, ctx.project, ctx.body["display_name"])


@api("/internal/email-templates/{templateId}", "PATCH", access=ADMIN, params=TEMPLATE_PARAMS,
     body=v.Obj({"tsx_source": v.Str(required=True), "theme_id": theme_id_field()}, required=True))
async def update_template(ctx: Ctx):
    return await email_admin.update_template(ctx.db, ctx.state.projects, ctx.project, ctx.params["templateId"],
                                             ctx.body)


@api("/internal/email-templates/{templateId}", "DELETE", access=ADMIN, params=TEMPLATE_PARAMS)
async def delete_template(ctx: Ctx):
    return await email_admin.delete_template(ctx.db, ctx.state.projects, ctx.project, ctx.params["templateId"])


# ---------------------------------------------------------------- drafts

DRAFT_PARAMS = v.Obj({"id": v.Uuid(required=True)})


@api("/internal/email-drafts", "GET", access=ADMIN)
async def list_drafts(ctx: Ctx):
    return await email_admin.list_drafts(ctx.db, ctx.project)


@api("/internal/email-drafts", "POST", access=ADMIN, body=v.Obj({
    "display_name": v.Str(required=True), "theme_id": theme_id_field(), "tsx_source": v.Str()}, required=True))
async def create_draft(ctx: Ctx):
    return await email_admin.create_draft(ctx.db, ctx.project, ctx.body)


@api("/internal/email-drafts/{id}", "GET", access=ADMIN, params=DRAFT_PARAMS)
async def get_draft(ctx: Ctx):
    return await email_admin.get_draft(ctx.db, ctx.project, ctx.params["id"])


@api("/internal/email-drafts/{id}", "PATCH", access=ADMIN, params=DRAFT_PARAMS, body=v.Obj({
    "display_name": v.Str(), "theme_id": theme_id_field(), "tsx_source": v.Str()}, required=True))
async def update_draft(ctx: Ctx):
    return await email_admin.update_draft(ctx.db, ctx.project, ctx.params["id"], ctx.body)


@api("/internal/email-drafts/{id}", "DELETE", access=ADMIN, params=DRAFT_PARAMS)
async def delete_draft(ctx: Ctx):
    return await email_admin.delete_draft(ctx.db, ctx.project, ctx.params["id"])


# ---------------------------------------------------------------- test email

@api("/internal/send-test-email", "POST", access=ADMIN, body=v.Obj({
    "recipient_email": v.Email(required=True),
    "email_config": v.Obj({"host": v.Str(required=True), "port": v.Int(required=True),
                           "username": v.Str(required=True), "password": v.Str(required=True),
                           "sender_name": v.Str(required=True), "sender_email": v.Email(required=True)},
                          required=True)}, required=True))
async def send_test_email(ctx: Ctx):
    return await email_admin.send_test_email(ctx.state.mail, ctx.body["recipient_email"], ctx.body["email_config"])


# ---------------------------------------------------------------- previews and the sent-email log

_EDITABLE = {"editable_markers": v.Bool(), "editable_source": v.Str(one_of=("template", "theme", "both"))}
RENDER_BODY = v.Union(
    v.Obj({"template_id": v.Uuid(required=True), "theme_id": theme_id_field(), **_EDITABLE}),
    v.Obj({"template_id": v.Uuid(required=True), "theme_tsx_source": v.Str(required=True), **_EDITABLE}),
    v.Obj({"template_tsx_source": v.Str(required=True), "theme_id": theme_id_field(), **_EDITABLE}),
    v.Obj({"template_tsx_source": v.Str(required=True), "theme_tsx_source": v.Str(required=True), **_EDITABLE}),
    required=True)


@api("/emails/render-email", "POST", access=ADMIN, body=RENDER_BODY)
async def render_email(ctx: Ctx):
    return await email_admin.render_email(ctx.db, ctx.project, ctx.body)


@api("/internal/emails", "GET", access=ADMIN)
async def sent_emails(ctx: Ctx):
    return await email_admin.sent_emails(ctx.db, ctx.project)
