"""Small endpoints: the API root, project info, JWKS, and what the SDK calls on start."""
from __future__ import annotations

import re

from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.routing import Route

from emulator.domain.projects import project_admin
from emulator.domain.auth import tokens
from emulator.domain.users.users import primary_channel
from emulator.http import validation as v
from emulator.http.endpoint import Ctx, RouteTable
from emulator.http.responses import json_response, text_response

api = RouteTable()


@api("/", "GET", access=None)
async def api_root(ctx: Ctx):
    text = ("Welcome to the Hexclave API, served by hexclave-emulator. The API reference is at "
            "https://docs.hexclave.com.\n\nAuthentication: ")
    if ctx.auth is None:
        text += "None"
    else:
        user = ctx.auth.user
        who = "None"
        if user is not None:
            primary = primary_channel(user)
            who = primary.value if primary else user.id
        text += f"{ctx.auth.access_type.capitalize()}\n  Project: {ctx.project.id}\n  User: {who}"
    return text_response(text)


CLIENT_CONFIG_FIELDS = ("sign_up_enabled", "credential_enabled", "magic_link_enabled", "passkey_enabled",
                        "client_team_creation_enabled", "client_user_deletion_enabled", "allow_user_api_keys",
                        "allow_team_api_keys", "allow_localhost", "domains", "enabled_oauth_providers")


def client_project(project) -> dict:
    """The client's view of the project: a part of the admin view's legacy config, providers by type only."""
    legacy = project_admin.legacy_config(project.config)
    config = {k: legacy[k] for k in CLIENT_CONFIG_FIELDS}
    return {"id": project.id, "display_name": project.display_name, "config": config}


@api("/projects/current", "GET")
async def current_project(ctx: Ctx):
    return client_project(ctx.project)


@api("/internal/backend-urls", "GET", access=None)
async def backend_urls(ctx: Ctx):
    return {"urls": [ctx.state.settings.base_url]}


# The SDK's prebuilt pages (handler URLs) with the version of each page component the platform ships; the emulator
# serves the version every page has today.
PAGE_COMPONENTS = ("signIn", "signUp", "signOut", "emailVerification", "passwordReset", "forgotPassword",
                   "oauthCallback", "magicLinkCallback", "accountSettings", "teamInvitation", "mfa", "error",
                   "onboarding")


@api("/internal/component-versions", "GET", access=None)
async def component_versions(ctx: Ctx):
    return {"versions": {page: {"version": 1, "changelogs": {"1": "First version of the page."}}
                         for page in PAGE_COMPONENTS}}


@api("/check-feature-support", "POST", access=None)
async def check_feature_support(ctx: Ctx):
    body = ctx.body if isinstance(ctx.body, dict) else {}
    name = body.get("feature_name") or "This feature"
    return text_response(f"{name} is not yet supported by Hexclave (nor by this emulator).")


@api("/check-version", "POST", access=None, body=v.Obj({"clientVersion": v.Str(required=True)}, required=True))
async def check_version(ctx: Ctx):
    return compare_client_version(ctx.body["clientVersion"])


PLATFORM_VERSION = (2, 8, 108)  # the SDK release this emulator is checked against
OLDEST_SAFE_VERSION = (2, 8, 57)
_SEMVER = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")


def compare_client_version(text: str) -> dict:
    match = _SEMVER.match(text.strip())
    current = ".".join(map(str, PLATFORM_VERSION))

    def outdated(severe: bool, why: str) -> dict:
        return {"upToDate": False, "error": why, "severe": severe}

    if not match:
        return outdated(True, f"The client version v{text} is not a valid semantic version; update the SDK.")
    version = tuple(int(p) for p in match.groups()[:3])
    prerelease = match.group(4) is not None
    if version < OLDEST_SAFE_VERSION:
        return outdated(True, f"SDK v{text} is older than 2.8.57, which has urgent security fixes; update now.")
    if version[:2] != PLATFORM_VERSION[:2]:
        return outdated(True, f"SDK v{text} is from another release line than the platform (v{current}); update it.")
    if version < PLATFORM_VERSION or (version == PLATFORM_VERSION and prerelease):
        return outdated(False, f"SDK v{text} is older than the current version v{current}; consider updating.")
    return {"upToDate": True}


JWKS_QUERY = v.Obj({"include_restricted": v.Bool(), "include_anonymous": v.Bool()})


@api("/projects/{project_id}/.well-known/jwks.json", "GET", access=None, query=JWKS_QUERY,
       params=v.Obj({"project_id": v.Str()}))
async def project_jwks(ctx: Ctx):
    if await ctx.state.projects.view(ctx.db, ctx.params["project_id"]) is None:
        return text_response("Project not found", 404)
    body = tokens.jwks(ctx.state.signer.secret, ctx.params["project_id"],
                       include_restricted=bool(ctx.query.get("include_restricted")),
                       include_anonymous=bool(ctx.query.get("include_anonymous")))
    return json_response(body, headers={"cache-control": "public, max-age=3600"})


async def anonymous_well_known(request: Request):
    """The anonymous issuer's discovery documents live under the normal project path."""
    rest = request.path_params["rest"]
    prefix = request.url.path.split("/projects-anonymous-users/")[0]
    return RedirectResponse(f"{prefix}/projects/{request.path_params['project_id']}/.well-known/{rest}"
                            "?include_anonymous=true", status_code=307)


api.routes.append(Route("/projects-anonymous-users/{project_id}/.well-known/{rest:path}", anonymous_well_known))
