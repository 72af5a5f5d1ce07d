"""The simulated OAuth providers' HTTP face, under /emulator/oauth/{provider_type}/:

  GET  authorize   the provider's sign-in page (or, with `emulator_login=...`, an immediate answer)
  POST authorize   the page's form: grant as an identity, deny (access_denied), or fail (temporarily_unavailable)
  POST token       authorization_code and refresh_token grants (PKCE plain/S256)
  GET  userinfo    the signed-in identity, in the real provider's JSON shape (Bearer access token)
  POST revoke      revoke an access or refresh token
  POST simulate-refresh-error   make the next refresh of a token fail ({token, error_type})
  GET  .well-known/openid-configuration, jwks   for the providers that are OpenID Connect issuers
"""
from __future__ import annotations

import base64
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from emulator import json_input
from emulator.domain.oauth import oauth, oauth_sim as sim
from emulator.domain.projects import projects
from emulator.http.routes.pages import static_version, templates
from emulator.store.engine import finish

PREFIX = "/emulator/oauth"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}
SIM_ERRORS = {"deny": ("access_denied", "The user denied access."),
              "unavailable": ("temporarily_unavailable", "The provider is temporarily unavailable (simulated).")}


def _base(request: Request, provider_type: str) -> str:
    return f"{request.url.scheme}://{request.url.netloc}{PREFIX}/{provider_type}"


def _type(request: Request) -> str | None:
    provider_type = request.path_params["provider_type"]
    return provider_type if provider_type in sim.PROVIDERS else None


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": error, "error_description": description}, status, headers=NO_STORE)


def _not_found() -> JSONResponse:
    return oauth_error("not_found", f"Unknown provider type; the simulated ones are: {', '.join(sim.PROVIDERS)}.", 404)


async def read_form(request: Request) -> dict[str, Any]:
    """A form or JSON body as a dict of strings (empty on anything else)."""
    raw = await request.body()
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    try:
        if content_type == "application/json":
            data = json_input.loads(raw or b"{}")
            return {k: v for k, v in data.items()} if isinstance(data, dict) else {}
        return dict(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))
    except (ValueError, UnicodeDecodeError):
        return {}


def _truthy(value: Any) -> bool:
    return str(value).lower() in ("1", "true", "on", "yes")


# ---- authorize --------------------------------------------------------------------------------------------------------

AUTHORIZE_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
                    "code_challenge_method", "nonce", "access_type", "prompt", "response_mode")


async def provider_context(db, request: Request, params: dict[str, Any]) -> tuple[str | None, dict | None]:
    """The project name and provider config behind a request coming from the platform (found by its state)."""
    row = await oauth.outer_info(db, str(params.get("state") or ""))
    if row is None:
        return None, None
    project = await request.app.state.emu.projects.view(db, row.project_id)
    if project is None:
        return None, None
    return project.display_name, oauth.find_provider(project, row.info.get("providerId", ""))


def _identity_from(fields: dict[str, Any], prefix: str = "") -> sim.Identity:
    email = (fields.get(prefix + "email") or "").strip() or None
    account_id = (fields.get(prefix + "account_id") or "").strip() or sim.default_account_id(email)
    verified = fields.get(prefix + "email_verified")
    return sim.Identity(account_id, email, (fields.get(prefix + "name") or "").strip() or None,
                        (fields.get(prefix + "avatar_url") or "").strip() or None,
                        True if verified is None else _truthy(verified))


async def _pick(db, provider_type: str, provider_config: dict | None, login: str) -> sim.Identity:
    """`emulator_login`: a known identity by account id or email, else a new identity with that email."""
    for who in sim.config_identities(provider_config) + await sim.known_identities(db, provider_type):
        if login in (who.account_id, who.email):
            return who
    return sim.Identity(login, login if "@" in login else None)


def _redirect(redirect_uri: str, params: dict[str, str]) -> RedirectResponse:
    return RedirectResponse(oauth.with_query(redirect_uri, params), status_code=303, headers=NO_STORE)


async def _answer(db, provider_type: str, params: dict[str, Any], who: sim.Identity | None, outcome: str) -> Response:
    """Send the browser back to the client: with a code, or with the error the user chose to simulate."""
    state = {"state": params["state"]} if params.get("state") else {}
    if outcome in SIM_ERRORS:
        error, description = SIM_ERRORS[outcome]
        return _redirect(params["redirect_uri"], {"error": error, "error_description": description, **state})
    code = await sim.issue_code(db, provider_type, who, client_id=str(params.get("client_id") or ""),
                                redirect_uri=params["redirect_uri"], scope=str(params.get("scope") or ""),
                                code_challenge=params.get("code_challenge") or None,
                                code_challenge_method=params.get("code_challenge_method") or None,
                                nonce=params.get("nonce") or None)
    return _redirect(params["redirect_uri"], {"code": code, **state})


CALLBACK_PATH = re.compile(r"^/api/(v1|latest)/auth/oauth/callback/[^/]+$")


async def _redirect_uri_problem(db, request: Request, uri: str, state: Any) -> str | None:
    """Like a real provider, send codes only to registered places: the emulator's own OAuth callbacks (where the
    platform's sign-in sends the browser) and http(s) URLs the project trusts (its trusted domains, and localhost
    unless domains.allowLocalhost is off). Without a platform sign-in behind it, any config-file project counts."""
    parsed = urlsplit(uri)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "redirect_uri is missing or not an absolute http(s) URL."
    if parsed.netloc == request.url.netloc and CALLBACK_PATH.match(parsed.path):
        return None
    directory = request.app.state.emu.projects
    row = await oauth.outer_info(db, str(state or ""))
    project = row and await directory.view(db, row.project_id)
    configs = [project.config] if project else [f.rendered for f in directory.files.values()]
    if any(projects.is_trusted_url(config, uri) for config in configs):
        return None
    return ("redirect_uri is neither one of the emulator's OAuth callbacks nor a URL the project trusts "
            "(domains.trustedDomains, or localhost when domains.allowLocalhost is on).")


def _bad_request_page(message: str) -> HTMLResponse:
    # Without a usable redirect_uri an OAuth provider must not redirect: it shows the error itself.
    return HTMLResponse(f"<!doctype html><title>OAuth error</title><p>{message}</p>", 400)


async def _check_request(db, request: Request, params: dict[str, Any]) -> str | None:
    problem = await _redirect_uri_problem(db, request, str(params.get("redirect_uri") or ""), params.get("state"))
    if problem:
        return problem
    if params.get("response_type", "code") != "code":
        return "Only response_type=code is supported."
    if params.get("code_challenge_method") not in (None, "", "plain", "S256"):
        return "code_challenge_method must be plain or S256."
    return None


async def authorize_page(request: Request) -> Response:
    provider_type = _type(request)
    if provider_type is None:
        return _not_found()
    params = dict(request.query_params)
    state = request.app.state.emu
    async with state.db.session() as db:
        problem = await _check_request(db, request, params)
        if problem:
            return _bad_request_page(problem)
        project_name, provider_config = await provider_context(db, request, params)
        login = params.get("emulator_login")
        outcome = params.get("emulator_result", "grant")
        if login or outcome in SIM_ERRORS:  # non-interactive: answer at once, as if the form was submitted
            who = await _pick(db, provider_type, provider_config, login) if login else None
            if who is not None:
                if "emulator_email_verified" in params:
                    who.email_verified = _truthy(params["emulator_email_verified"])
                who.name = params.get("emulator_name") or who.name
                who.avatar_url = params.get("emulator_avatar_url") or who.avatar_url
            if who is None and outcome not in SIM_ERRORS:
                return _bad_request_page("emulator_login is empty.")
            response = await _answer(db, provider_type, params, who, outcome)
            await finish(db)
            return response
        identities = sim.config_identities(provider_config)
        seen = {i.account_id for i in identities}
        identities += [i for i in await sim.known_identities(db, provider_type) if i.account_id not in seen]
    spec = sim.PROVIDERS[provider_type]
    page = templates().get_template("oauth_signin.html").render(
        static_version=static_version(), provider_type=provider_type, spec=spec, project_name=project_name,
        client_id=params.get("client_id") or "", scopes=sim.scopes_of(params.get("scope")),
        hidden={k: params[k] for k in AUTHORIZE_PARAMS if params.get(k)}, identities=identities,
        login_hint=params.get("login_hint") or "", redirect_host=params["redirect_uri"].split("/")[2]
        if "://" in params["redirect_uri"] else params["redirect_uri"])
    return HTMLResponse(page, headers={"cache-control": "no-store"})


async def authorize_submit(request: Request) -> Response:
    provider_type = _type(request)
    if provider_type is None:
        return _not_found()
    fields = await read_form(request)
    outcome = fields.get("action", "grant")
    if outcome not in ("grant", *SIM_ERRORS):
        return _bad_request_page("action must be grant, deny or unavailable.")
    state = request.app.state.emu
    async with state.db.session() as db:
        problem = await _check_request(db, request, fields)
        if problem:
            return _bad_request_page(problem)
        who = None
        if outcome == "grant":
            if fields.get("identity"):  # one of the listed identities, by account id
                _, provider_config = await provider_context(db, request, fields)
                who = await _pick(db, provider_type, provider_config, fields["identity"])
            else:
                who = _identity_from(fields)
                if who.email is None and not fields.get("account_id"):
                    return _bad_request_page("Enter an email or an account id.")
        response = await _answer(db, provider_type, fields, who, outcome)
        await finish(db)
        return response


# ---- token, userinfo, revocation ------------------------------------------------------------------------------------

def client_credentials(request: Request, fields: dict[str, Any]) -> tuple[str | None, str | None]:
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            return unquote(user), unquote(password)
        except (ValueError, UnicodeDecodeError):
            return None, None
    return fields.get("client_id"), fields.get("client_secret")


async def token(request: Request) -> Response:
    provider_type = _type(request)
    if provider_type is None:
        return _not_found()
    fields = await read_form(request)
    client_id, _secret = client_credentials(request, fields)  # any secret is accepted: there is no registration
    return await grant_tokens(request, fields, provider_type, client_id, _base(request, provider_type), openid=False)


async def grant_tokens(request: Request, fields: dict[str, Any], provider_type: str, client_id: str | None,
                       issuer: str, *, openid: bool) -> Response:
    """A provider's token endpoint once the client is known: the authorization_code and refresh_token grants
    (shared with the mock OAuth server port, which always answers as an OpenID provider)."""
    grant_type = fields.get("grant_type")
    state = request.app.state.emu
    async with state.db.session() as db:
        try:
            if grant_type == "authorization_code":
                if not fields.get("code"):
                    return oauth_error("invalid_request", "Missing parameter: code")
                body = await sim.exchange_code(db, provider_type, code=str(fields["code"]), client_id=client_id or "",
                                               redirect_uri=fields.get("redirect_uri"),
                                               code_verifier=fields.get("code_verifier"), issuer=issuer,
                                               secret=state.signer.secret, openid=openid)
            elif grant_type == "refresh_token":
                if not fields.get("refresh_token"):
                    return oauth_error("invalid_request", "Missing parameter: refresh_token")
                body = await sim.refresh(db, provider_type, refresh_token=str(fields["refresh_token"]),
                                         client_id=client_id, scope=fields.get("scope"), issuer=issuer,
                                         secret=state.signer.secret, openid=openid)
            else:
                return oauth_error("unsupported_grant_type", "grant_type must be authorization_code or refresh_token.")
        except sim.SimError as error:
            await finish(db)  # a simulated refresh failure is used up even though the request fails
            return JSONResponse(error.body(), error.status, headers=NO_STORE)
        await finish(db)
    return JSONResponse(body, headers=NO_STORE)


async def userinfo(request: Request) -> Response:
    provider_type = _type(request)
    if provider_type is None:
        return _not_found()
    auth = request.headers.get("authorization", "")
    access_token = auth[7:].strip() if auth.lower().startswith("bearer ") else request.query_params.get("access_token")
    async with request.app.state.emu.db.session() as db:
        owner = await sim.access_token_owner(db, provider_type, access_token or "")
    if owner is None:
        return JSONResponse({"error": "invalid_token", "error_description": "The access token is invalid or expired."},
                            401, headers={"www-authenticate": 'Bearer error="invalid_token"', **NO_STORE})
    return JSONResponse(sim.userinfo(provider_type, owner[1]), headers=NO_STORE)


async def revoke(request: Request) -> Response:
    if _type(request) is None:
        return _not_found()
    fields = await read_form(request)
    async with request.app.state.emu.db.session() as db:
        found = await sim.revoke(db, str(fields.get("token") or ""))
        await finish(db)
    return JSONResponse({"success": found, "message": "Token revoked." if found else "No such token."},
                        200 if found else 404)


async def simulate_refresh_error(request: Request) -> Response:
    if _type(request) is None:
        return _not_found()
    fields = await read_form(request)
    error = fields.get("error_type") or "invalid_grant"
    if error not in sim.REFRESH_ERRORS:
        return oauth_error("invalid_request", f"error_type must be one of {', '.join(sim.REFRESH_ERRORS)}.")
    async with request.app.state.emu.db.session() as db:
        found = await sim.fail_next_refresh(db, str(fields.get("token") or ""), error)
        await finish(db)
    return JSONResponse({"success": found, "message": f"The next refresh fails with {error}." if found
                         else "No such token."}, 200 if found else 404)


# ---- OpenID Connect documents ---------------------------------------------------------------------------------------

async def discovery(request: Request) -> Response:
    provider_type = _type(request)
    if provider_type is None or not sim.PROVIDERS[provider_type].oidc:
        return _not_found() if provider_type is None else oauth_error(
            "not_found", f"{sim.PROVIDERS[provider_type].name} is not an OpenID Connect provider.", 404)
    return JSONResponse(sim.discovery(_base(request, provider_type), provider_type))


async def jwks(request: Request) -> Response:
    provider_type = _type(request)
    if provider_type is None or not sim.PROVIDERS[provider_type].oidc:
        return _not_found()
    return JSONResponse(sim.jwks(request.app.state.emu.signer.secret, provider_type),
                        headers={"cache-control": "public, max-age=3600"})


P = PREFIX + "/{provider_type}"
routes: list = [
    Route(P + "/authorize", authorize_page, methods=["GET"]),
    Route(P + "/authorize", authorize_submit, methods=["POST"]),
    Route(P + "/token", token, methods=["POST"]),
    Route(P + "/userinfo", userinfo, methods=["GET", "POST"]),
    Route(P + "/revoke", revoke, methods=["POST"]),
    Route(P + "/simulate-refresh-error", simulate_refresh_error, methods=["POST"]),
    Route(P + "/.well-known/openid-configuration", discovery, methods=["GET"]),
    Route(P + "/jwks", jwks, methods=["GET"]),
]
