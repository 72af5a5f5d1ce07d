"""The optional second port (--mock-oauth-port): answers like the reference's development mock OAuth server
(apps/mock-oauth-server, an oidc-provider), so test suites written against the official development setup keep
working: the same routes, client ids (github, facebook, google, microsoft, spotify, discord, gitlab, bitbucket, x)
with the secret MOCK-SERVER-SECRET, any email accepted as the account, no password, consent auto-approved.

A thin HTTP face over the simulated providers (emulator/domain/oauth_sim.py): codes, tokens, ID tokens, identities,
revocation and simulated refresh errors are theirs, kept in the store; the client id is the provider type. Only the
short-lived interactions (login, then consent) live here, in memory, with the same redirect hops as oidc-provider:

    GET /auth -> 303 /interaction/<uid> (login form) -> POST /interaction/<uid>/login -> 303 /auth/<uid>
    -> 303 /interaction/<uid2> (consent: auto-approved on GET, or POST prompt=consent) -> 303 /auth/<uid2>
    -> 303 <redirect_uri>?code=...&state=...&iss=...
"""
from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from dataclasses import dataclass, field
from html import escape
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from emulator.clock import now_millis
from emulator.domain.oauth import oauth, oauth_sim as sim
from emulator.http.guard import RequestGuard, guard_hosts
from emulator.http.routes.oauth_sim import (NO_STORE, client_credentials, grant_tokens, oauth_error,
                                           provider_context, read_form)
from emulator.http.routes.pages import static_version, templates
from emulator.paths import STATIC_DIR
from emulator.store.engine import finish

INTERACTION_MILLIS = 60 * 60 * 1000  # oidc-provider's default interaction lifetime
SESSION_GONE = "Session not found or expired"  # the reference's answer (410) to an unknown or expired interaction


@dataclass
class Interaction:
    uid: str
    prompt: str  # "login", then "consent"
    params: dict[str, str]  # the authorization request
    account: str | None = None
    done: bool = False  # the prompt was answered
    error: tuple[str, str] | None = None  # (error, description) when the user aborted
    expires_at_millis: int = field(default_factory=lambda: now_millis() + INTERACTION_MILLIS)


def _interactions(request: Request) -> dict[str, Interaction]:
    return request.app.state.interactions


def _new_interaction(request: Request, prompt: str, params: dict[str, str], account: str | None = None) -> Interaction:
    table = _interactions(request)
    for uid in [u for u, i in table.items() if i.expires_at_millis <= now_millis()]:
        del table[uid]
    interaction = Interaction(secrets.token_urlsafe(16), prompt, params, account)
    table[interaction.uid] = interaction
    return interaction


def _find(request: Request, cookie: str) -> Interaction | None:
    """The interaction of the URL, if this browser holds its cookie and it has not expired."""
    uid = request.path_params["uid"]
    interaction = _interactions(request).get(uid)
    if interaction is None or request.cookies.get(cookie) != uid or interaction.expires_at_millis <= now_millis():
        return None
    return interaction


def _gone() -> Response:
    return Response(SESSION_GONE, 410, media_type="text/html; charset=utf-8", headers=NO_STORE)


def _issuer(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _error_page(error: str, description: str, status: int = 400) -> HTMLResponse:
    # Without a trusted redirect_uri an authorization server shows the error itself.
    return HTMLResponse(f"<!doctype html><title>{escape(error)}</title><h1>{escape(error)}</h1>"
                        f"<p>{escape(description)}</p>", status, headers=NO_STORE)


def _redirect_page(url: str) -> Response:
    """A 303 with a short HTML body naming the target, as an OIDC provider answers a browser's GET; the form POSTs
    of the interaction answer a bare 303 (_resume)."""
    location = RedirectResponse(url).headers["location"]  # the same URL quoting as a bare redirect
    return HTMLResponse(f'Redirecting to <a href="{escape(location)}">{escape(location)}</a>.', 303,
                        headers={**NO_STORE, "location": location})


def _to_client(request: Request, params: dict[str, str], answer: dict[str, str]) -> Response:
    state = {"state": params["state"]} if params.get("state") else {}
    return _redirect_page(oauth.with_query(params["redirect_uri"], {**answer, **state, "iss": _issuer(request)}))


def _to_interaction(interaction: Interaction) -> Response:
    response = _redirect_page(f"/interaction/{interaction.uid}")
    max_age = INTERACTION_MILLIS // 1000
    for name, path in (("_interaction", "/interaction/"), ("_interaction_resume", "/auth/")):
        response.set_cookie(name, interaction.uid, max_age=max_age, path=path + interaction.uid, httponly=True,
                            samesite="lax")
    return response


def _resume(interaction: Interaction) -> RedirectResponse:
    return RedirectResponse(f"/auth/{interaction.uid}", 303, headers=NO_STORE)


async def _grant(request: Request, params: dict[str, str], account: str) -> Response:
    """Issue the authorization code for `account` (the email typed in) and send the browser back to the client."""
    client_id = params["client_id"]
    async with request.app.state.emu.db.session() as db:
        who = await sim.identity(db, client_id, account) or sim.Identity(account, account if "@" in account else None)
        code = await sim.issue_code(db, client_id, who, client_id=client_id, redirect_uri=params["redirect_uri"],
                                    scope=params.get("scope") or "", code_challenge=params.get("code_challenge") or None,
                                    code_challenge_method=params.get("code_challenge_method") or None,
                                    nonce=params.get("nonce") or None)
        await finish(db)
    return _to_client(request, params, {"code": code})


# ---- authorization ----------------------------------------------------------------------------------------------------

AUTH_PARAMS = ("client_id", "redirect_uri", "response_type", "scope", "state", "code_challenge",
               "code_challenge_method", "nonce", "prompt", "access_type")


async def auth(request: Request) -> Response:
    params = {k: v for k, v in request.query_params.items() if k in AUTH_PARAMS}
    if params.get("client_id") not in sim.MOCK_CLIENT_IDS:
        return _error_page("invalid_client", f"Unknown client_id; the mock clients are: {', '.join(sim.MOCK_CLIENT_IDS)}.")
    if not params.get("redirect_uri", "").startswith(("http://", "https://")):
        return _error_page("invalid_redirect_uri", "redirect_uri is missing or not an http(s) URL.")
    if params.get("response_type") != "code":
        return _to_client(request, params, {"error": "unsupported_response_type",
                                            "error_description": "Only response_type=code is supported."})
    if params.get("code_challenge_method") not in (None, "", "plain", "S256"):
        return _to_client(request, params, {"error": "invalid_request",
                                            "error_description": "code_challenge_method must be S256 or plain."})
    login = request.query_params.get("emulator_login")
    if login:  # the emulator's non-interactive hint, as on the simulated providers' pages
        return await _grant(request, params, login)
    return _to_interaction(_new_interaction(request, "login", params))


async def resume(request: Request) -> Response:
    """/auth/<uid>: where a finished interaction returns to: the next prompt, or the answer to the client."""
    interaction = _find(request, "_interaction_resume")
    if interaction is None:
        return _gone()
    if not interaction.done and interaction.error is None:
        return _to_interaction(interaction)
    del _interactions(request)[interaction.uid]
    if interaction.error is not None:
        error, description = interaction.error
        return _to_client(request, interaction.params, {"error": error, "error_description": description})
    if interaction.prompt == "login":
        return _to_interaction(_new_interaction(request, "consent", interaction.params, interaction.account))
    return await _grant(request, interaction.params, interaction.account or "")


async def interaction_page(request: Request) -> Response:
    interaction = _find(request, "_interaction")
    if interaction is None:
        return _gone()
    if interaction.prompt == "consent":  # auto-approved, as at the reference
        interaction.done = True
        return _resume(interaction)
    client_id = interaction.params["client_id"]
    async with request.app.state.emu.db.session() as db:
        project_name, _ = await provider_context(db, request, interaction.params)
        known = await sim.known_identities(db, client_id)
    page = templates().get_template("oauth_mock_login.html").render(
        static_version=static_version(), uid=interaction.uid, client_id=client_id, project_name=project_name,
        spec=sim.PROVIDERS[client_id], accounts=[i.account_id for i in known],
        scopes=sim.scopes_of(interaction.params.get("scope")))
    return HTMLResponse(page, headers=NO_STORE)


async def _login(request: Request, interaction: Interaction, fields: dict[str, Any]) -> Response:
    if interaction.prompt != "login":
        return _error_page("invalid_request", "This interaction does not ask for a login.")
    login = str(fields.get("login") or "").strip()
    if not login:
        return _error_page("invalid_request", "Enter an email (any email works, there is no password).")
    interaction.account, interaction.done = login, True
    return _resume(interaction)


async def login(request: Request) -> Response:
    interaction = _find(request, "_interaction")
    if interaction is None:
        return _gone()
    return await _login(request, interaction, await read_form(request))


async def interaction_submit(request: Request) -> Response:
    """POST /interaction/<uid>: what the reference's e2e helper posts (`prompt=consent`); a login form works too."""
    interaction = _find(request, "_interaction")
    if interaction is None:
        return _gone()
    fields = await read_form(request)
    if interaction.prompt == "login":
        return await _login(request, interaction, fields)
    interaction.done = True
    return _resume(interaction)


async def abort(request: Request) -> Response:
    interaction = _find(request, "_interaction")
    if interaction is None:
        return _gone()
    interaction.error = ("access_denied", "The user aborted the sign-in at the mock OAuth server.")
    return _resume(interaction)


# ---- tokens and the user --------------------------------------------------------------------------------------------

def _client(request: Request, fields: dict[str, Any]) -> str | None:
    client_id, secret = client_credentials(request, fields)
    return client_id if client_id in sim.MOCK_CLIENT_IDS and secret == sim.MOCK_CLIENT_SECRET else None


def _invalid_client() -> JSONResponse:
    return oauth_error("invalid_client", f"Client authentication failed: use a mock client id with the secret "
                                         f"{sim.MOCK_CLIENT_SECRET}.", 401)


async def token(request: Request) -> Response:
    fields = await read_form(request)
    client_id = _client(request, fields)
    if client_id is None:
        return _invalid_client()
    return await grant_tokens(request, fields, client_id, client_id, _issuer(request), openid=True)


async def me(request: Request) -> Response:
    header = request.headers.get("authorization", "")
    access_token = header[7:].strip() if header.lower().startswith("bearer ") else None
    async with request.app.state.emu.db.session() as db:
        owner = await sim.access_token_owner(db, None, access_token or "")
    if owner is None or owner[0].provider_type not in sim.MOCK_CLIENT_IDS:
        return JSONResponse({"error": "invalid_token", "error_description": "invalid token provided"}, 401,
                            headers={"www-authenticate": 'Bearer error="invalid_token"', **NO_STORE})
    grant, who = owner
    return JSONResponse(sim.mock_userinfo(who, grant.scope), headers=NO_STORE)


async def revocation(request: Request) -> Response:
    """RFC 7009: 200 whether or not the token existed."""
    fields = await read_form(request)
    if _client(request, fields) is None:
        return _invalid_client()
    if not fields.get("token"):
        return oauth_error("invalid_request", "Missing parameter: token")
    async with request.app.state.emu.db.session() as db:
        await sim.revoke(db, str(fields["token"]))
        await finish(db)
    return Response(b"", 200, headers=NO_STORE)


async def _token_field(request: Request) -> tuple[dict[str, Any], str | None]:
    fields = await read_form(request)
    return fields, (str(fields["token"]) if fields.get("token") else None)


async def revoke_access_token(request: Request) -> Response:
    _, given = await _token_field(request)
    if given is None:
        return oauth_error("invalid_request", "Missing token parameter")
    async with request.app.state.emu.db.session() as db:
        await sim.revoke(db, given)
        await finish(db)
    return JSONResponse({"success": True, "message": "The access token is revoked."})


async def revoke_refresh_token(request: Request) -> Response:
    """Takes an access token: its grant goes, with every refresh token of it."""
    _, given = await _token_field(request)
    if given is None:
        return oauth_error("invalid_request", "Missing token parameter")
    async with request.app.state.emu.db.session() as db:
        found = await sim.access_token_owner(db, None, given) is not None and await sim.revoke_grant(db, given)
        await finish(db)
    if not found:
        return oauth_error("invalid_token", "Access token not found")
    return JSONResponse({"success": True, "message": "The grant and its refresh tokens are revoked."})


async def simulate_refresh_error(request: Request) -> Response:
    fields, given = await _token_field(request)
    if given is None:
        return oauth_error("invalid_request", "Missing token parameter")
    async with request.app.state.emu.db.session() as db:
        if await sim.access_token_owner(db, None, given) is None:
            return oauth_error("invalid_token", "Access token not found")
        error = str(fields.get("error_type") or "")
        if error not in sim.REFRESH_ERRORS:
            return oauth_error("invalid_request", f"error_type must be one of: {', '.join(sim.REFRESH_ERRORS)}")
        await sim.fail_next_refresh(db, given, error)
        await finish(db)
    return JSONResponse({"success": True, "message": f"The next refresh of this grant fails with {error}."})


# ---- documents ----------------------------------------------------------------------------------------------------------

async def discovery(request: Request) -> Response:
    base = _issuer(request)
    return JSONResponse({
        "issuer": base,
        "authorization_endpoint": f"{base}/auth",
        "token_endpoint": f"{base}/token",
        "userinfo_endpoint": f"{base}/me",
        "jwks_uri": f"{base}/jwks",
        "revocation_endpoint": f"{base}/token/revocation",
        "end_session_endpoint": f"{base}/session/end",
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "code_challenge_methods_supported": ["S256", "plain"],
        "scopes_supported": ["openid", "offline_access", "email"],
        "claims_supported": ["sub", "email"],
        "authorization_response_iss_parameter_supported": True,
    })


async def jwks(request: Request) -> Response:
    """One key per mock client: each client id is a simulated provider type signing with its own key."""
    secret = request.app.state.emu.signer.secret
    return JSONResponse({"keys": [k for t in sim.MOCK_CLIENT_IDS for k in sim.jwks(secret, t)["keys"]]})


async def session_end(request: Request) -> Response:
    """Sign-out: nothing to end (every sign-in asks for the email again); back to the app if it asked."""
    target = request.query_params.get("post_logout_redirect_uri")
    if target and target.startswith(("http://", "https://")):
        state = request.query_params.get("state")
        return RedirectResponse(oauth.with_query(target, {"state": state} if state else {}), 303, headers=NO_STORE)
    return HTMLResponse("<!doctype html><title>Signed out</title><p>Signed out of the mock OAuth server.</p>",
                        headers=NO_STORE)


def create_app(state) -> Starlette:
    app = Starlette(routes=[
        Route("/.well-known/openid-configuration", discovery, methods=["GET"]),
        Route("/auth", auth, methods=["GET"]),
        Route("/auth/{uid}", resume, methods=["GET"]),
        Route("/interaction/{uid}", interaction_page, methods=["GET"]),
        Route("/interaction/{uid}", interaction_submit, methods=["POST"]),
        Route("/interaction/{uid}/login", login, methods=["POST"]),
        Route("/interaction/{uid}/abort", abort, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        Route("/me", me, methods=["GET", "POST"]),
        Route("/jwks", jwks, methods=["GET"]),
        Route("/token/revocation", revocation, methods=["POST"]),
        Route("/session/end", session_end, methods=["GET", "POST"]),
        Route("/revoke-access-token", revoke_access_token, methods=["POST"]),
        Route("/revoke-refresh-token", revoke_refresh_token, methods=["POST"]),
        Route("/simulate-refresh-error", simulate_refresh_error, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=str(STATIC_DIR), check_dir=False)),
    ])
    app.state.emu = state
    app.state.interactions = {}
    app.add_middleware(RequestGuard, public_hosts=guard_hosts(state.settings))
    return app


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # the main server handles Ctrl+C / SIGTERM and stops this one


class MockOAuthServer:
    def __init__(self, state):
        settings = state.settings
        self.where = f"{settings.host}:{settings.mock_oauth_port}"
        self.server = _Server(uvicorn.Config(create_app(state), host=settings.host, port=settings.mock_oauth_port,
                                             log_level="warning", access_log=False, lifespan="off", server_header=False,
                                             timeout_graceful_shutdown=2))
        self.task: asyncio.Task | None = None

    async def start(self, sock: socket.socket) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[sock]))
        while not self.server.started:
            if self.task.done():
                raise SystemExit(f"could not serve the mock OAuth server on {self.where}")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        self.server.should_exit = True
        if self.task is not None:
            with contextlib.suppress(BaseException):
                await self.task
