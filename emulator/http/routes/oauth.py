"""Platform OAuth routes: /auth/oauth/authorize, the inner callback, cross-domain handoff, /oauth-providers and
/connected-accounts. The token endpoint lives with the other token routes in auth.py."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from starlette.responses import RedirectResponse, Response

from emulator.domain.oauth import oauth
from emulator.domain.users import users
from emulator.clock import now_millis
from emulator.errors import E, KnownError, StatusError
from emulator.http import validation as v
from emulator.http.auth import decode_user_token, header
from emulator.http.endpoint import SERVER, Ctx, RouteTable, UserIdOrMe
from emulator.http.responses import delete_cookie, error_response, json_response, set_cookie, success
from emulator.http.routes.auth import BOT_FIELDS, OpenObj
from emulator.store.models import RefreshToken

api = RouteTable()


def base_url(ctx: Ctx) -> str:
    """Where this request reached the emulator: the provider page and the callback must stay on that origin,
    or the browser would not send the inner-state cookie back."""
    return f"{ctx.request.url.scheme}://{ctx.request.url.netloc}"


def mock_server_url(ctx: Ctx) -> str | None:
    """The mock OAuth port (when on), on the host name this request used: localhost stays localhost."""
    port = ctx.state.settings.mock_oauth_port
    host = ctx.request.url.hostname or "127.0.0.1"
    return f"http://{f'[{host}]' if ':' in host else host}:{port}" if port else None


# ---- authorize ------------------------------------------------------------------------------------------------------

AUTHORIZE_QUERY = OpenObj({
    "type": v.Str(one_of=("authenticate", "link"), default="authenticate"),
    "token": v.Str(default=""),
    "provider_scope": v.Str(),
    "error_redirect_url": v.Url(),
    "error_redirect_uri": v.Url(),
    "after_callback_redirect_url": v.Url(),
    "stack_response_mode": v.Str(one_of=("json", "redirect"), default="redirect"),
    **BOT_FIELDS,
    "client_id": v.Str(required=True),
    "client_secret": v.Str(required=True),
    "redirect_uri": v.Url(required=True),
    "scope": v.Str(required=True),
    "state": v.Str(required=True),
    "grant_type": v.Str(required=True, one_of=("authorization_code",)),
    "code_challenge": v.Str(required=True),
    "code_challenge_method": v.Str(required=True),
    "response_type": v.Str(required=True),
})
PROVIDER_PARAMS = v.Obj({"provider_id": v.Str(required=True)})


@api("/auth/oauth/authorize/{provider_id}", "GET", access=None, params=PROVIDER_PARAMS, query=AUTHORIZE_QUERY)
async def authorize(ctx: Ctx):
    q = ctx.query
    directory = ctx.state.projects
    project = await oauth.project_of_client_id(directory, ctx.db, q["client_id"])
    if project is None:
        raise E.invalid_oauth_client_id_or_secret(q["client_id"])
    await oauth.check_publishable_key(directory, ctx.db, project, q["client_secret"],
                                      E.invalid_publishable_client_key(project.id))
    provider = oauth.require_provider(project, ctx.params["provider_id"])
    if q["type"] == "link" and not q["token"]:
        raise StatusError(400, "?token= query parameter is required for link type")
    after = q.get("after_callback_redirect_url")
    if after and not oauth.is_allowed_redirect(project, after):
        raise E.redirect_url_not_whitelisted()
    if q.get("provider_scope") and oauth.is_shared(provider):
        raise E.oauth_extra_scope_not_available_with_shared_oauth_keys()
    user_id = None
    if q["token"]:  # anonymous and restricted users may link or upgrade, so their tokens are fine here
        claims = decode_user_token(ctx.state.signer.secret, q["token"], project.id)
        if claims["aud"].split(":")[0] != project.id:
            raise StatusError(403, "The access token is not valid for this project")
        user_id = claims["sub"]
    location, inner_state = await oauth.start_flow(ctx.db, project, provider, q, base_url=base_url(ctx), user_id=user_id,
                                                   mock_url=mock_server_url(ctx))
    if q["stack_response_mode"] == "json":  # the SDK navigates itself; PKCE protects the flow, no cookie needed
        return {"location": location}
    response = RedirectResponse(location, status_code=307)
    set_cookie(response, oauth.INNER_COOKIE_PREFIX + inner_state, "true", oauth.OUTER_FLOW_MILLIS // 1000)
    return response


# ---- the inner callback ---------------------------------------------------------------------------------------------

async def _callback(ctx: Ctx):
    params = {**(ctx.body if isinstance(ctx.body, dict) else {}), **ctx.query}
    inner_state = str(params.get("state") or "")
    row = await oauth.outer_info(ctx.db, inner_state)
    if row is None:
        raise StatusError(400, "Invalid OAuth state. Please try signing in again.")
    info = row.info
    cookie = oauth.INNER_COOKIE_PREFIX + inner_state
    uses_cookie = info.get("responseMode") != "json"
    project = await ctx.state.projects.view(ctx.db, row.project_id)
    try:
        if uses_cookie and ctx.request.cookies.get(cookie) != "true":
            raise StatusError(400, "Inner OAuth cookie not found. This is likely because you refreshed the page during "
                                   "the OAuth sign in process. Please try signing in again")
        if project is None:
            raise StatusError(400, "The project of this OAuth sign-in no longer exists.")
        try:
            response = await _finish_callback(ctx, project, row, info, params)
        except KnownError as error:
            await ctx.db.rollback()
            target = oauth.error_redirect_target(project, info)
            if target is None:
                raise
            response = RedirectResponse(oauth.error_redirect_url(target, error), status_code=307)
    except StatusError as error:
        await ctx.db.rollback()
        response = error_response(error)
    if uses_cookie:
        delete_cookie(response, cookie)
    return response


async def _finish_callback(ctx: Ctx, project, row, info: dict[str, Any], params: dict[str, Any]) -> Response:
    if row.expires_at_millis < now_millis():
        raise E.outer_oauth_timeout()
    provider = oauth.require_provider(project, ctx.request.path_params["provider_id"])
    await oauth.check_publishable_key(ctx.state.projects, ctx.db, project, info["publishableClientKey"],
                                      E.invalid_publishable_client_key(project.id))
    who, token_set = await oauth.provider_user(ctx.db, ctx.state.signer.secret, provider, info, params)
    oauth.check_outer_request(project, info)
    resolved = await oauth.resolve_user(ctx.db, project, provider, info, who, token_set,
                                        rounds=ctx.state.settings.bcrypt_rounds, request_country=ctx.request_country)
    code = await oauth.issue_authorization_code(
        ctx.db, project, resolved.user_id, redirect_uri=info["redirectUri"], code_challenge=info["codeChallenge"],
        code_challenge_method=info["codeChallengeMethod"], new_user=resolved.new_user,
        after_callback_redirect_url=info.get("afterCallbackRedirectUrl"))
    location = oauth.with_query(info["redirectUri"], {"code": code, "state": info["state"]})
    return json_response({}, 303, headers={"location": location})


CALLBACK = dict(access=None, params=PROVIDER_PARAMS, query=OpenObj({}), body=v.Json())
api("/auth/oauth/callback/{provider_id}", "GET", **CALLBACK)(_callback)
api("/auth/oauth/callback/{provider_id}", "POST", **CALLBACK)(_callback)  # Apple posts its answer (form_post)


@api("/auth/oauth/callback/apple/native", "POST", body=v.Obj({"id_token": v.Str(required=True)}, required=True))
async def apple_native(ctx: Ctx):
    return await oauth.apple_native_sign_in(ctx.db, ctx.state.signer, ctx.project, ctx.body["id_token"],
                                            rounds=ctx.state.settings.bcrypt_rounds)


# ---- cross-domain handoff -------------------------------------------------------------------------------------------

@api("/auth/oauth/cross-domain/authorize", "POST", body=v.Obj({
    "redirect_uri": v.Url(required=True),
    "state": v.Str(required=True, min_length=1, max_length=512),
    "code_challenge": v.Str(required=True, pattern=r"^[A-Za-z0-9._~-]{43,128}$"),
    "code_challenge_method": v.Str(one_of=("S256",), default="S256"),
    "after_callback_redirect_url": v.Url(),
}, required=True))
async def cross_domain_authorize(ctx: Ctx):
    user = ctx.user
    if user is None:
        raise E.user_authentication_required()
    if ctx.auth.refresh_token_id is None:
        raise StatusError(400, "Cross-domain auth handoff requires a refresh-token-bound session. Please sign in again.")
    given = header(ctx.request, "refresh-token")
    if not given:
        raise StatusError(400, "Cross-domain auth handoff requires passing the current refresh token.")
    session = (await ctx.db.execute(select(RefreshToken).where(RefreshToken.token == given))).scalar_one_or_none()
    if session is None or session.id != ctx.auth.refresh_token_id or session.user_id != user.id \
            or session.project_id != ctx.project.id:
        raise StatusError(401, "Cross-domain auth handoff refresh token does not match the authenticated session.")
    if session.expires_at_millis is not None and session.expires_at_millis <= now_millis():
        raise StatusError(401, "Cross-domain auth handoff refresh token is not valid.")
    await oauth.check_publishable_key(ctx.state.projects, ctx.db, ctx.project, header(ctx.request, "publishable-client-key"),
                                      E.invalid_publishable_client_key(ctx.project.id))
    body = ctx.body
    for url in (body["redirect_uri"], body.get("after_callback_redirect_url")):
        if url and not oauth.is_allowed_redirect(ctx.project, url):
            raise E.redirect_url_not_whitelisted()
    code = await oauth.issue_authorization_code(
        ctx.db, ctx.project, user.id, redirect_uri=body["redirect_uri"], code_challenge=body["code_challenge"],
        code_challenge_method=body["code_challenge_method"], new_user=False,
        after_callback_redirect_url=body.get("after_callback_redirect_url"), granted_refresh_token_id=session.id)
    return {"redirect_url": oauth.with_query(body["redirect_uri"], {"code": code, "state": body["state"]})}


# ---- /oauth-providers: a user's OAuth accounts ----------------------------------------------------------------------

def _client_only_self(ctx: Ctx, user_id: str | None, verb: str) -> None:
    if ctx.is_client:
        if ctx.user is None:
            raise E.cannot_get_own_user_without_user()
        if user_id != ctx.user.id:
            raise StatusError(403, f"Client can only {verb} OAuth providers for their own user.")


async def _require_user(ctx: Ctx, user_id: str) -> None:
    await users.require(ctx.db, ctx.project, user_id)


def _shape(ctx: Ctx, account) -> dict | None:
    provider_type = oauth.account_type(ctx.project, account.provider_config_id)
    if provider_type is None:
        return None
    return oauth.account_shape(account, provider_type, server=not ctx.is_client)


def _shape_or_404(ctx: Ctx, account) -> dict:
    shape = _shape(ctx, account)
    if shape is None:
        raise StatusError(404, f"OAuth provider {account.provider_config_id} not found or not configured")
    return shape


@api("/oauth-providers", "GET", query=v.Obj({"user_id": UserIdOrMe()}))
async def list_oauth_providers(ctx: Ctx):
    user_id = ctx.query.get("user_id")
    _client_only_self(ctx, user_id, "list")
    if user_id:
        await _require_user(ctx, user_id)
    accounts = await oauth.list_accounts(ctx.db, ctx.project.id, user_id)
    return {"items": [s for s in (_shape(ctx, a) for a in accounts) if s is not None], "is_paginated": False}


@api("/oauth-providers", "POST", access=SERVER, body=v.Obj({
    "user_id": UserIdOrMe(required=True), "provider_config_id": v.Str(required=True), "email": v.Email(),
    "allow_sign_in": v.Bool(required=True), "allow_connected_accounts": v.Bool(required=True),
    "account_id": v.Str(required=True)}, required=True))
async def create_oauth_provider(ctx: Ctx):
    body = ctx.body
    entry = ctx.project.config["auth"]["oauth"]["providers"].get(body["provider_config_id"])
    if entry is None:
        raise StatusError(404, f"OAuth provider {body['provider_config_id']} not found or not configured")
    await _require_user(ctx, body["user_id"])
    await oauth.check_account_input(ctx.db, ctx.project.id, user_id=body["user_id"],
                                    provider_config_id=body["provider_config_id"], account_id=body["account_id"],
                                    allow_sign_in=body["allow_sign_in"], exclude_id=None)
    account = await oauth.create_account(ctx.db, ctx.project.id, body)
    return json_response(oauth.account_shape(account, entry.get("type"), server=True), 201)


ACCOUNT_PARAMS = v.Obj({"user_id": UserIdOrMe(required=True), "provider_id": v.Uuid(required=True)})


def _update_body(access_type: str | None) -> v.Obj:
    fields: dict[str, v.Schema] = {"allow_sign_in": v.Bool(), "allow_connected_accounts": v.Bool()}
    if access_type != "client":
        fields.update(email=v.Email(), account_id=v.Str())
    return v.Obj(fields, required=True)


async def _account_for(ctx: Ctx, verb: str):
    user_id = ctx.params["user_id"]
    _client_only_self(ctx, user_id, verb)
    await _require_user(ctx, user_id)
    return await oauth.get_account(ctx.db, ctx.project.id, user_id, ctx.params["provider_id"])


@api("/oauth-providers/{user_id}/{provider_id}", "GET", params=ACCOUNT_PARAMS)
async def read_oauth_provider(ctx: Ctx):
    return _shape_or_404(ctx, await _account_for(ctx, "read"))


@api("/oauth-providers/{user_id}/{provider_id}", "PATCH", params=ACCOUNT_PARAMS, body=_update_body)
async def update_oauth_provider(ctx: Ctx):
    account = await _account_for(ctx, "update")
    body = ctx.body
    await oauth.check_account_input(ctx.db, ctx.project.id, user_id=account.user_id,
                                    provider_config_id=account.provider_config_id, account_id=body.get("account_id"),
                                    allow_sign_in=body.get("allow_sign_in"), exclude_id=account.id)
    for field, column in (("allow_sign_in", "allow_sign_in"), ("allow_connected_accounts", "allow_connected_accounts"),
                          ("email", "email"), ("account_id", "provider_account_id")):
        if body.get(field) is not None:
            setattr(account, column, body[field])
    await ctx.db.flush()
    return _shape_or_404(ctx, account)


@api("/oauth-providers/{user_id}/{provider_id}", "DELETE", params=ACCOUNT_PARAMS)
async def delete_oauth_provider(ctx: Ctx):
    account = await _account_for(ctx, "delete")
    await ctx.db.delete(account)
    return success()


# ---- /connected-accounts ----------------------------------------------------------------------------------------------

@api("/connected-accounts/{user_id}", "GET", params=v.Obj({"user_id": UserIdOrMe(required=True)}))
async def list_connected_accounts(ctx: Ctx):
    user_id = ctx.params["user_id"]
    if ctx.is_client:
        if ctx.user is None:
            raise E.cannot_get_own_user_without_user()
        if user_id != ctx.user.id:
            raise StatusError(403, "Client can only list connected accounts for their own user.")
    await _require_user(ctx, user_id)
    accounts = [a for a in await oauth.list_accounts(ctx.db, ctx.project.id, user_id) if a.allow_connected_accounts]
    return {"items": [{"user_id": a.user_id, "provider": a.provider_config_id,
                       "provider_account_id": a.provider_account_id} for a in accounts], "is_paginated": False}


ACCESS_TOKEN_BODY = v.Obj({"scope": v.Str()}, required=True)


async def _token_checks(ctx: Ctx, user_id: str, provider_id: str):
    if ctx.is_client and (ctx.user is None or ctx.user.id != user_id):
        raise StatusError(403, "Client can only access its own connected accounts")
    provider = oauth.require_provider(ctx.project, provider_id)
    if oauth.is_shared(provider) and not oauth.shared_access_tokens_allowed():
        raise E.oauth_access_token_not_available_with_shared_oauth_keys()
    await _require_user(ctx, user_id)
    accounts = [a for a in await oauth.list_accounts(ctx.db, ctx.project.id, user_id)
                if a.provider_config_id == provider_id]
    return provider, accounts


@api("/connected-accounts/{user_id}/{provider_id}/{provider_account_id}/access-token", "POST",
     params=v.Obj({"user_id": UserIdOrMe(required=True), "provider_id": v.Str(required=True),
                   "provider_account_id": v.Str(required=True)}), body=ACCESS_TOKEN_BODY)
async def account_access_token(ctx: Ctx):
    provider, accounts = await _token_checks(ctx, ctx.params["user_id"], ctx.params["provider_id"])
    mine = [a for a in accounts if a.provider_account_id == ctx.params["provider_account_id"]]
    usable = [a for a in mine if a.allow_connected_accounts][:1]
    if not usable:
        raise E.oauth_connection_not_connected_to_user()
    token = await oauth.connected_access_token(ctx.db, ctx.state.signer.secret, provider, usable, ctx.body.get("scope"))
    return json_response(token, 201)


async def _legacy_access_token(ctx: Ctx, user_id: str) -> Response:
    provider, accounts = await _token_checks(ctx, user_id, ctx.params["provider_id"])
    if not accounts:
        raise E.oauth_connection_not_connected_to_user()
    token = await oauth.connected_access_token(ctx.db, ctx.state.signer.secret, provider, accounts, ctx.body.get("scope"))
    return json_response(token, 201)


@api("/connected-accounts/{user_id}/{provider_id}/access-token", "POST",
     params=v.Obj({"user_id": UserIdOrMe(required=True), "provider_id": v.Str(required=True)}), body=ACCESS_TOKEN_BODY)
async def provider_access_token(ctx: Ctx):
    """The legacy per-provider form: any of the user's accounts of that provider."""
    return await _legacy_access_token(ctx, ctx.params["user_id"])


@api("/auth/oauth/connected-accounts/{provider_id}/access-token", "POST", params=PROVIDER_PARAMS, body=ACCESS_TOKEN_BODY)
async def deprecated_access_token(ctx: Ctx):
    """Deprecated upstream: the same as /connected-accounts/me/{provider_id}/access-token."""
    if ctx.user is None:
        raise E.cannot_get_own_user_without_user()
    return await _legacy_access_token(ctx, ctx.user.id)
