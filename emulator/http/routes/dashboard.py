"""The dashboard: server-rendered pages over one project's users, teams, config and payments.

  GET  /             overview: ids, keys, environment variables, counts, the config file and its reload status
  GET  /users        search, filters, sort, pages; create a user      GET /users/{id}   one user, everything editable
  GET  /teams        search; create a team                            GET /teams/{id}   members, invitations, API keys
  GET  /config       the effective config, each key's source; edit (written back into hexclave.config.py)
  GET  /payments     the clock, the catalogue, customers' products, items and transactions; grant, change, refund
  POST the same paths: one form action each (field `action`), answered with a redirect back and a notice.

Every page takes ?project=<id> (default: the config file's project). Reads and writes go through the emulator's
own admin API, called in-process (AdminApi: the same routing, validation, rules and error messages a client gets),
or through domain functions for what the API has no read for (counts, the project list, the config file's status).
Form posts are accepted from the emulator's own pages only (same_origin).
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from emulator import __version__
from emulator import environment
from emulator.domain.projects import config as config_mod
from emulator.domain.projects import overview, projects
from emulator.domain.teams import permissions
from emulator.domain.users import users
from emulator.http.routes.oauth_sim import read_form
from emulator.http.routes.pages import static_version, templates

NOTICE_COOKIE = "hexclave_dashboard_notice"
MAX_NOTICE = 1500  # characters of a notice kept
PAGE_SIZE = 25


# ---- the admin API, in-process ---------------------------------------------------------------------------------------

def seg(value: str) -> str:
    """One path segment of an API call, quoted whole (a "/" in an id stays inside its segment)."""
    return quote(value, safe="")


class ApiProblem(Exception):
    """An API call answered with an error; the message is what the page shows."""


class AdminApi:
    """Calls /api/v1 of this very app with admin access to one project, as a client would over HTTP."""

    def __init__(self, app, project_id: str) -> None:
        self.app, self.project_id = app, project_id

    async def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [(b"host", b"127.0.0.1"), (b"x-stack-access-type", b"admin"),
                   (b"x-stack-project-id", self.project_id.encode()),
                   (b"x-stack-development-override-key", projects.INTERNAL_SUPER_SECRET_ADMIN_KEY.encode())]
        if body is not None:
            headers.append((b"content-type", b"application/json"))
        query_string = urlencode({k: v for k, v in query.items() if v is not None}).encode()
        full_path = "/api/v1" + path  # segments quoted by the caller (seg); the scope's path is the decoded one
        scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
                 "scheme": "http", "path": unquote(full_path), "raw_path": full_path.encode(), "root_path": "",
                 "query_string": query_string, "headers": headers, "client": ("127.0.0.1", 0),
                 "server": ("127.0.0.1", 80)}
        sent = False
        status, chunks = 500, []

        async def receive():
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        async def send(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        content = b"".join(chunks).decode("utf-8", "replace")
        try:
            data = json.loads(content) if content else None
        except ValueError:
            data = content
        if status >= 400:
            if isinstance(data, dict) and "error" in data:
                raise ApiProblem(f"{data['error']} ({data.get('code')})" if data.get("code") else data["error"])
            raise ApiProblem(str(data or f"HTTP {status}"))
        return data

    async def get(self, path: str, **query: Any) -> Any:
        return await self.call("GET", path, **query)

    async def post(self, path: str, body: Any = None, **query: Any) -> Any:
        return await self.call("POST", path, {} if body is None else body, **query)

    async def patch(self, path: str, body: Any, **query: Any) -> Any:
        return await self.call("PATCH", path, body, **query)

    async def delete(self, path: str, **query: Any) -> Any:
        return await self.call("DELETE", path, **query)

    async def optional(self, path: str, **query: Any) -> tuple[Any, str | None]:
        """A read that may be refused (a feature switched off): (data, None) or (None, why)."""
        try:
            return await self.get(path, **query), None
        except ApiProblem as problem:
            return None, str(problem)


# ---- what every page shares ------------------------------------------------------------------------------------------

@dataclass
class Frame:
    request: Request
    project_id: str
    project_name: str
    projects: list[tuple[str, str]]
    config: dict[str, Any]
    api: AdminApi

    def url(self, path: str, **query: Any) -> str:
        """A dashboard URL of this project."""
        params = {"project": self.project_id, **{k: v for k, v in query.items() if v not in (None, "")}}
        return f"{path}?{urlencode(params)}"


class NotFound(Exception):
    pass


def default_project_id(state) -> str:
    """The config file's project (the first bound file), else the internal project."""
    return next(iter(state.projects.files), projects.INTERNAL_PROJECT_ID)


async def frame(request: Request) -> Frame:
    state = request.app.state.emu
    project_id = request.query_params.get("project") or default_project_id(state)
    async with state.db.session() as db:
        view = await state.projects.view(db, project_id)
        listed = await overview.list_projects(db)
    if view is None:
        raise NotFound(f"There is no project {project_id!r} in this emulator.")
    return Frame(request, project_id, view.display_name, listed, view.config, AdminApi(request.app, project_id))


def server_timing(started: float, cpu_started: float) -> str:
    """The page's server time (`app`, wall clock) and the CPU time the process spent meanwhile (`cpu`: the same
    figure on an idle machine, the page's own cost on a busy one)."""
    return (f"app;dur={(time.perf_counter() - started) * 1000:.1f}, "
            f"cpu;dur={(time.process_time() - cpu_started) * 1000:.1f}")


def format_millis(millis: int | None) -> str:
    """A time in UTC, to the minute (the emulator clock's reading, which may be ahead of the wall clock)."""
    if not millis:
        return "—"
    return datetime.fromtimestamp(millis / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def render(f: Frame, template: str, section: str, title: str, **values: Any) -> Response:
    notice = _read_notice(f.request)
    started, cpu_started = f.request.scope.get("dashboard_started", (time.perf_counter(), time.process_time()))
    env = templates()
    env.filters.setdefault("millis", format_millis)
    page = env.get_template(template).render(
        f=f, section=section, page_title=title, notice=notice, version=__version__,
        static_version=static_version(), base_url=str(f.request.base_url).rstrip("/"),
        switch_path="/" + f.request.url.path.split("/")[1], **values)  # another project: the same section's list
    response = HTMLResponse(page, headers={"cache-control": "no-store",
                                           "server-timing": server_timing(started, cpu_started)})
    if notice:
        response.delete_cookie(NOTICE_COOKIE, path="/")
    return response


def _read_notice(request: Request) -> dict | None:
    try:
        notice = json.loads(request.cookies.get(NOTICE_COOKIE) or "null")
    except ValueError:
        return None
    return notice if isinstance(notice, dict) and isinstance(notice.get("text"), str) else None


def back(to: str, text: str, kind: str = "ok", **extra: Any) -> Response:
    """Post/redirect/get: back to a page, which shows `text` once (kept in a short-lived cookie)."""
    response = RedirectResponse(to, status_code=303)
    if len(text) > MAX_NOTICE:  # a cookie holds about 4 kB
        text = text[:MAX_NOTICE] + "…"
    # ASCII JSON (non-ASCII as \u escapes): a cookie value must be plain ASCII.
    response.set_cookie(NOTICE_COOKIE, json.dumps({"kind": kind, "text": text, **extra}), max_age=60, path="/",
                        httponly=True, samesite="strict")
    return response


def same_origin(request: Request) -> bool:
    """A form post from the emulator's own pages. Browsers say where a request comes from in Sec-Fetch-Site (our
    pages send no Referer, so their Origin may read "null"); without it, an Origin must name this host."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = request.headers.get("origin")
    return origin is None or origin == f"{request.url.scheme}://{request.headers.get('host', '')}"


LOOPBACK_NAMES = {"127.0.0.1", "localhost", "::1"}
WILDCARD_HOSTS = {"0.0.0.0", "::", ""}


def trusted_host(request: Request) -> bool:
    """The Host names the emulator itself: a loopback name or the address it was started on. A page of another site
    whose name was re-pointed at 127.0.0.1 (DNS rebinding) would otherwise be "same-origin" with the dashboard and
    could read the project's keys or post its forms."""
    bound = getattr(getattr(request.app.state.emu, "settings", None), "host", "127.0.0.1")
    if bound in WILDCARD_HOSTS:
        return True  # served on every interface on purpose: any name may reach it
    name = (request.url.hostname or "").strip("[]").lower()
    return name in LOOPBACK_NAMES or name.endswith(".localhost") or name == bound.strip("[]").lower()


FOREIGN_HOST = ("The emulator's dashboard answers only under its own address (127.0.0.1, localhost or the --host it "
                "was started with).")


def page(template: str, section: str):
    """A GET handler: `build(f)` gives the title and template values."""
    def wrap(build):
        async def handler(request: Request) -> Response:
            request.scope["dashboard_started"] = (time.perf_counter(), time.process_time())
            if not trusted_host(request):
                return problem_page(request, "Refused", FOREIGN_HOST, 403)
            try:
                f = await frame(request)
                title, values = await build(f)
            except NotFound as missing:
                return problem_page(request, "Not found", str(missing), 404)
            except ApiProblem as problem:  # a read the API refused: say why rather than fail
                return problem_page(request, "The emulator's API refused a read of this page", str(problem), 400)
            return render(f, template, section, title, **values)
        handler.build = build  # for actions that answer with the page itself (impersonate)
        return handler
    return wrap


def problem_page(request: Request, title: str, text: str, status: int) -> Response:
    body = templates().get_template("dash_problem.html").render(
        title=title, text=text, static_version=static_version(), version=__version__)
    return HTMLResponse(body, status, headers={"cache-control": "no-store"})


def actions(table: dict[str, Any]):
    """A POST handler: `table[action](f, form)` does the work and returns the notice (or a Response)."""
    async def handler(request: Request) -> Response:
        if not trusted_host(request):
            return problem_page(request, "Refused", FOREIGN_HOST, 403)
        if not same_origin(request):
            return Response("Cross-site form posts to the emulator's dashboard are refused.", 403,
                            media_type="text/plain; charset=utf-8")
        try:
            f = await frame(request)
        except NotFound as missing:
            return problem_page(request, "Not found", str(missing), 404)
        form = await read_form(request)
        here = f.url(request.url.path)
        act = table.get(form.get("action", ""))
        if act is None:
            return back(here, f"Unknown action {form.get('action')!r}.", "error")
        try:
            done = await act(f, form)
        except ApiProblem as problem:
            return back(here, str(problem), "error")
        return done if isinstance(done, Response) else back(here, done)
    return handler


def json_field(form: dict, name: str) -> Any:
    """A JSON text field of a form, parsed (an empty field is null)."""
    value = text(form, name)
    if not value:
        return None
    try:
        return json.loads(value)
    except ValueError as exc:
        raise ApiProblem(f"{name.replace('_', ' ')} is not valid JSON: {exc}") from None


def text(form: dict, name: str) -> str:
    """A text field of a form, trimmed ("" when absent)."""
    return (form.get(name) or "").strip()


def whole_number(form: dict, name: str, default: int, problem: str) -> int:
    try:
        return int(text(form, name) or default)
    except ValueError:
        raise ApiProblem(problem) from None


def checked(form: dict, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


async def required(f: Frame, path: str, what: str) -> dict:
    """A read whose failure means the page's subject does not exist."""
    try:
        return await f.api.get(path)
    except ApiProblem:
        raise NotFound(f"There is no {what} in project {f.project_id}.") from None


METADATA_FIELDS = ("client_metadata", "client_read_only_metadata", "server_metadata")


def metadata_texts(subject: dict) -> dict[str, str]:
    """A user's or team's three metadata fields as the JSON the page edits (null as an empty field)."""
    return {name: json.dumps(subject[name], indent=2) if subject[name] is not None else "" for name in METADATA_FIELDS}


def permission_ids(config: dict, scope: str) -> list[str]:
    """The permissions the page offers to grant: the config's of this scope, then the system team permissions."""
    defined = sorted(k for k, p in config["rbac"]["permissions"].items() if p.get("scope") == scope)
    return defined + list(permissions.SYSTEM_TEAM_PERMISSIONS) if scope == "team" else defined


# ---- overview --------------------------------------------------------------------------------------------------------

@page("dash_overview.html", "overview")
async def overview_page(f: Frame):
    state = f.request.app.state.emu
    async with state.db.session() as db:
        figures = await overview.counts(db, f.project_id)
        keys = await overview.first_key_set(db, f.project_id)
    config_file = state.projects.files.get(f.project_id)
    base = str(f.request.base_url).rstrip("/")
    env = environment.render(environment.app_environment(
        base, f.project_id, keys.publishable_client_key, keys.secret_server_key, keys.super_secret_admin_key),
        "dotenv") if keys else ""
    return "Overview", {"counts": figures, "keys": keys, "env": env, "config_file": config_file}


async def rename_project(f: Frame, form: dict) -> str:
    name = text(form, "display_name")
    await f.api.patch("/internal/projects/current", {"display_name": name})
    return f"Project renamed to {name}."


# ---- users -----------------------------------------------------------------------------------------------------------

USER_FILTERS = {  # filter name: the list_users query it adds
    "all": {"include_restricted": True},
    "signed-up": {},
    "anonymous": {"include_anonymous": True, "only_anonymous": True},
    "restricted": {"include_restricted": True, "only_restricted": True},
    "verified": {"include_restricted": True, "verified": True},
    "unverified": {"include_restricted": True, "verified": False},
}
USER_SORTS = {"newest": {"desc": True}, "oldest": {}, "active": {"order_by": "last_active_at", "desc": True}}


@page("dash_users.html", "users")
async def users_page(f: Frame):
    q = f.request.query_params
    search, chosen, sort = q.get("q", "").strip(), q.get("filter", "all"), q.get("sort", "newest")
    query = {**USER_FILTERS.get(chosen, USER_FILTERS["all"]), **USER_SORTS.get(sort, USER_SORTS["newest"]),
             "limit": PAGE_SIZE, "query": search or None, "cursor": q.get("cursor") or None}
    state = f.request.app.state.emu
    async with state.db.session() as db:  # the API's listing, with the dashboard's two extra filters
        view = await state.projects.view(db, f.project_id)
        found = await users.list_users(db, view, query)
    return "Users", {"users": found["items"], "next_cursor": found["pagination"]["next_cursor"], "search": search,
                     "filter": chosen, "sort": sort, "filters": list(USER_FILTERS), "sorts": list(USER_SORTS),
                     "is_first_page": not q.get("cursor")}


async def create_user(f: Frame, form: dict) -> Response:
    body = {"primary_email": text(form, "primary_email") or None,
            "display_name": text(form, "display_name") or None,
            "primary_email_verified": checked(form, "primary_email_verified")}
    if body["primary_email"]:
        body["primary_email_auth_enabled"] = True
    if form.get("password"):
        body["password"] = form["password"]
    user = await f.api.post("/users", {k: v for k, v in body.items() if v is not None})
    return back(f.url(f"/users/{user['id']}"), "User created.")


@page("dash_user.html", "users")
async def user_page(f: Frame):
    user_id = f.request.path_params["user_id"]
    user = await required(f, f"/users/{user_id}", f"user {user_id!r}")
    channels = (await f.api.get("/contact-channels", user_id=user_id))["items"]
    sessions = (await f.api.get("/auth/sessions", user_id=user_id))["items"]
    teams = (await f.api.get("/teams", user_id=user_id))["items"]
    team_grants = (await f.api.get("/team-permissions", user_id=user_id))["items"]
    project_grants = (await f.api.get("/project-permissions", user_id=user_id))["items"]
    by_team: dict[str, list[str]] = {}
    for grant in team_grants:
        by_team.setdefault(grant["team_id"], []).append(grant["id"])
    return user["display_name"] or user["primary_email"] or user["id"], {
        "user": user, "channels": channels, "sessions": sessions, "teams": teams, "team_grants": by_team,
        "project_grants": [g["id"] for g in project_grants], "metadata": metadata_texts(user),
        "team_permission_ids": permission_ids(f.config, "team"),
        "project_permission_ids": permission_ids(f.config, "project")}


def _user_path(f: Frame) -> str:
    return f"/users/{f.request.path_params['user_id']}"


async def update_profile(f: Frame, form: dict) -> str:
    email = text(form, "primary_email") or None
    body = {"display_name": text(form, "display_name") or None, "primary_email": email}
    if email:
        body["primary_email_verified"] = checked(form, "primary_email_verified")
    await f.api.patch(_user_path(f), body)
    return "Profile saved."


async def update_metadata(f: Frame, form: dict) -> str:
    body = {name: json_field(form, name) for name in METADATA_FIELDS}
    await f.api.patch(_user_path(f), body)
    return "Metadata saved."


async def update_restriction(f: Frame, form: dict) -> str:
    restricted = checked(form, "restricted_by_admin")
    body: dict[str, Any] = {"restricted_by_admin": restricted}
    if restricted:
        body["restricted_by_admin_reason"] = text(form, "restricted_by_admin_reason") or None
        body["restricted_by_admin_private_details"] = text(form, "restricted_by_admin_private_details") or None
    await f.api.patch(_user_path(f), body)
    return "The user is restricted now." if restricted else "The user is no longer restricted."


async def revoke_session(f: Frame, form: dict) -> str:
    await f.api.delete(f"/auth/sessions/{seg(form.get('session_id', ''))}", user_id=f.request.path_params["user_id"])
    return "Session revoked."


async def grant_team_permission(f: Frame, form: dict) -> str:
    team_id, permission = form.get("team_id", ""), form.get("permission_id", "")
    await f.api.post(f"/team-permissions/{seg(team_id)}/{seg(form.get('user_id', ''))}/{seg(permission)}")
    return f"Granted {permission}."


async def revoke_team_permission(f: Frame, form: dict) -> str:
    team_id, permission = form.get("team_id", ""), form.get("permission_id", "")
    await f.api.delete(f"/team-permissions/{seg(team_id)}/{seg(form.get('user_id', ''))}/{seg(permission)}")
    return f"Revoked {permission}."


async def grant_project_permission(f: Frame, form: dict) -> str:
    permission = form.get("permission_id", "")
    await f.api.post(f"/project-permissions/{seg(form.get('user_id', ''))}/{seg(permission)}")
    return f"Granted {permission}."


async def revoke_project_permission(f: Frame, form: dict) -> str:
    permission = form.get("permission_id", "")
    await f.api.delete(f"/project-permissions/{seg(form.get('user_id', ''))}/{seg(permission)}")
    return f"Revoked {permission}."


async def delete_user(f: Frame, form: dict) -> Response:
    await f.api.delete(_user_path(f))
    return back(f.url("/users"), "User deleted.")


async def impersonate(f: Frame, form: dict) -> Response:
    """A new (impersonation) session: the tokens are shown once, on the page this answers with."""
    user_id = f.request.path_params["user_id"]
    tokens = await f.api.post("/auth/sessions", {"user_id": user_id, "is_impersonation": True,
                                                 "expires_in_millis": 24 * 3600 * 1000})
    f.request.scope["dashboard_started"] = (time.perf_counter(), time.process_time())
    _, values = await user_page.build(f)
    return render(f, "dash_user.html", "users", "Impersonate", **values, impersonation=tokens)


# ---- teams -----------------------------------------------------------------------------------------------------------

@page("dash_teams.html", "teams")
async def teams_page(f: Frame):
    search = f.request.query_params.get("q", "").strip()
    found = (await f.api.get("/teams", query=search or None, desc="true"))["items"]
    async with f.request.app.state.emu.db.session() as db:
        members = await overview.member_counts(db, f.project_id)
    return "Teams", {"teams": found, "members": members, "search": search}


async def create_team(f: Frame, form: dict) -> Response:
    body = {"display_name": text(form, "display_name")}
    if text(form, "creator_user_id"):
        body["creator_user_id"] = text(form, "creator_user_id")
    team = await f.api.post("/teams", body)
    return back(f.url(f"/teams/{team['id']}"), "Team created.")


@page("dash_team.html", "teams")
async def team_page(f: Frame):
    team_id = f.request.path_params["team_id"]
    team = await required(f, f"/teams/{team_id}", f"team {team_id!r}")
    members = (await f.api.get("/team-member-profiles", team_id=team_id))["items"]
    grants: dict[str, list[str]] = {}
    for grant in (await f.api.get("/team-permissions", team_id=team_id))["items"]:
        grants.setdefault(grant["user_id"], []).append(grant["id"])
    invitations = (await f.api.get("/team-invitations", team_id=team_id))["items"]
    api_keys, api_keys_problem = await f.api.optional("/team-api-keys", team_id=team_id)
    return team["display_name"], {
        "team": team, "members": members, "grants": grants, "invitations": invitations,
        "api_keys": (api_keys or {}).get("items", []), "api_keys_problem": api_keys_problem,
        "metadata": metadata_texts(team),
        "team_permission_ids": permission_ids(f.config, "team")}


def _team_path(f: Frame) -> str:
    return f"/teams/{f.request.path_params['team_id']}"


async def update_team(f: Frame, form: dict) -> str:
    body = {"display_name": text(form, "display_name"),
            **{name: json_field(form, name) for name in METADATA_FIELDS}}
    await f.api.patch(_team_path(f), body)
    return "Team saved."


async def add_member(f: Frame, form: dict) -> str:
    who = text(form, "user")
    user_id = who
    if "@" in who:  # an e-mail address: the user signed up with it
        async with f.request.app.state.emu.db.session() as db:
            user = await users.find_by_auth_email(db, f.project_id, who)
        if user is None:
            raise ApiProblem(f"No user signs in with {who}.")
        user_id = user.id
    await f.api.post(f"/team-memberships/{seg(f.request.path_params['team_id'])}/{seg(user_id)}")
    return "Member added."


async def remove_member(f: Frame, form: dict) -> str:
    await f.api.delete(f"/team-memberships/{seg(f.request.path_params['team_id'])}/{seg(form.get('user_id', ''))}")
    return "Member removed."


async def send_invitation(f: Frame, form: dict) -> str:
    email = text(form, "email")
    await f.api.post("/team-invitations/send-code", {"team_id": f.request.path_params["team_id"], "email": email,
                                                     "callback_url": text(form, "callback_url")})
    return f"Invitation sent to {email} (see the inbox)."


async def revoke_invitation(f: Frame, form: dict) -> str:
    await f.api.delete(f"/team-invitations/{seg(form.get('invitation_id', ''))}",
                       team_id=f.request.path_params["team_id"])
    return "Invitation revoked."


async def create_api_key(f: Frame, form: dict) -> Response:
    key = await f.api.post("/team-api-keys", {"team_id": f.request.path_params["team_id"],
                                              "description": text(form, "description"),
                                              "expires_at_millis": None})
    return back(f.url(_team_path(f)), "API key created. Copy it now: it is not shown again.", secret=key["value"])


async def revoke_api_key(f: Frame, form: dict) -> str:
    await f.api.patch(f"/team-api-keys/{seg(form.get('api_key_id', ''))}", {"revoked": True},
                      team_id=f.request.path_params["team_id"])
    return "API key revoked."


async def delete_team(f: Frame, form: dict) -> Response:
    await f.api.delete(_team_path(f))
    return back(f.url("/teams"), "Team deleted.")


# ---- config ----------------------------------------------------------------------------------------------------------

# The switches the platform's dashboard edits (written to the branch level: the config file).
EDITABLE_SWITCHES = {
    "auth.allowSignUp": "Allow new sign-ups",
    "auth.password.allowSignIn": "Password sign-in",
    "auth.otp.allowSignIn": "One-time code (magic link) sign-in",
    "auth.passkey.allowSignIn": "Passkey sign-in",
    "onboarding.requireEmailVerification": "Require e-mail verification",
    "teams.createPersonalTeamOnSignUp": "Create a personal team on sign-up",
    "teams.allowClientTeamCreation": "Clients may create teams",
    "users.allowClientUserDeletion": "Clients may delete their user",
    "apiKeys.enabled.user": "User API keys",
    "apiKeys.enabled.team": "Team API keys",
    "payments.blockNewPurchases": "Block new purchases",
}
LEVEL_SOURCES = (("project", "project override"), ("branch", "config file"), ("environment", "environment"))


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted key paths to leaf values (an empty object is a leaf)."""
    if isinstance(value, dict) and value:
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}.{key}" if prefix else key))
        return out
    return {prefix: value}


@page("dash_config.html", "config")
async def config_page(f: Frame):
    effective = flatten(json.loads((await f.api.get("/internal/config"))["config_string"]))
    sources: dict[str, str] = {}
    for level, label in LEVEL_SOURCES:  # later levels win
        override = json.loads((await f.api.get(f"/internal/config/override/{level}"))["config_string"])
        keys = set(flatten(config_mod.nest(override)))
        for path in effective:  # set at this level: the path itself or an object holding it
            parts = path.split(".")
            if any(".".join(parts[:i]) in keys for i in range(1, len(parts) + 1)):
                sources[path] = label
    if f.project_id not in f.request.app.state.emu.projects.files:
        sources = {k: "branch override" if v == "config file" else v for k, v in sources.items()}
    rows = [{"key": k, "value": json.dumps(v), "source": sources.get(k, "default")} for k, v in sorted(effective.items())]
    switches = [{"key": k, "label": label, "on": effective.get(k) is True, "source": sources.get(k, "default")}
                for k, label in EDITABLE_SWITCHES.items()]
    return "Config", {"rows": rows, "switches": switches,
                      "config_file": f.request.app.state.emu.projects.files.get(f.project_id)}


async def save_switches(f: Frame, form: dict) -> str:
    """Only switches that changed are written, so the file does not fill up with defaults."""
    effective = flatten(f.config)
    change = {key: checked(form, key) for key in EDITABLE_SWITCHES if checked(form, key) != effective.get(key)}
    if not change:
        return "Nothing changed."
    await f.api.patch("/internal/config/override/branch", {"config_override_string": json.dumps(change)})
    return "Config saved."


async def set_config_key(f: Frame, form: dict) -> str:
    key = text(form, "key")
    value = json_field(form, "value")
    await f.api.patch("/internal/config/override/branch", {"config_override_string": json.dumps({key: value})})
    return f"{key} saved."


# ---- payments --------------------------------------------------------------------------------------------------------

TRANSACTIONS_READ = 200  # the API's largest page
RECENT_TRANSACTIONS = 50

@page("dash_payments.html", "payments")
async def payments_page(f: Frame):
    q = f.request.query_params
    ctype, cid = q.get("customer_type", "user"), (q.get("customer_id") or "").strip()
    payments = f.config["payments"]
    # One read serves both tables: the project's latest transactions and, among them, the open customer's.
    listing = (await f.api.get("/internal/payments/transactions", limit=str(TRANSACTIONS_READ)))["transactions"]
    customer = None
    if cid:
        customer = await _customer(f, ctype, cid, payments, listing)
    now = await f.api.get("/emulator/clock")
    catalogue = [{"id": pid, **p} for pid, p in sorted((payments.get("products") or {}).items())]
    items = [{"id": iid, **i} for iid, i in sorted((payments.get("items") or {}).items())]
    return "Payments", {"transactions": listing[:RECENT_TRANSACTIONS], "transactions_read": TRANSACTIONS_READ,
                        "customers": customers_of(listing), "customer": customer, "customer_type": ctype,
                        "customer_id": cid, "clock": now, "products": catalogue, "items": items,
                        "test_mode": payments.get("testMode"), "refundable": refundable}


async def _customer(f: Frame, ctype: str, cid: str, payments: dict, transactions: list[dict]) -> dict:
    """One customer's products, item quantities and transactions (or why they cannot be read)."""
    if ctype == "user" and "@" in cid:
        async with f.request.app.state.emu.db.session() as db:
            user = await users.find_by_auth_email(db, f.project_id, cid)
        cid = user.id if user else cid
    try:
        products = (await f.api.get(f"/payments/products/{seg(ctype)}/{seg(cid)}", limit="100"))["items"]
    except ApiProblem as problem:
        return {"type": ctype, "id": cid, "problem": str(problem)}
    quantities = []
    for item_id, item in sorted((payments.get("items") or {}).items()):
        if (item.get("customerType") or "user") == ctype:
            found = await f.api.get(f"/payments/items/{seg(ctype)}/{seg(cid)}/{seg(item_id)}")
            quantities.append(found)
    mine = [t for t in transactions
            if any(e.get("customer_type") == ctype and e.get("customer_id") == cid for e in t["entries"])]
    grantable = sorted(pid for pid, p in (payments.get("products") or {}).items() if p.get("customerType") == ctype)
    return {"type": ctype, "id": cid, "products": products, "quantities": quantities, "transactions": mine,
            "grantable": grantable}


def customers_of(transactions: list[dict]) -> list[dict]:
    """The customers of these transactions (newest first), each with their number of transactions."""
    found: dict[tuple[str, str], dict] = {}
    for t in transactions:
        first = t["entries"][0] if t["entries"] else None
        if first is not None:
            key = (first["customer_type"], first["customer_id"])
            found.setdefault(key, {"type": key[0], "id": key[1], "count": 0, "last_millis": t["created_at_millis"]})
            found[key]["count"] += 1
    return list(found.values())


def refundable(transaction: dict) -> dict | None:
    """The full refund of a paid purchase not refunded yet (the refund form's values), else None."""
    entries = transaction["entries"]
    paid = [e for e in entries if e["type"] == "money_transfer"]
    if transaction["type"] != "purchase" or transaction["adjusted_by"] or not paid or transaction["test_mode"]:
        return None
    grant = entries[0]
    return {"kind": "subscription" if grant.get("subscription_id") else "one-time-purchase", "id": transaction["id"],
            "quantity": grant["quantity"], "amount_usd": paid[0]["charged_amount"].get("USD", "0")}


def _customer_url(f: Frame, form: dict) -> str:
    return f.url("/payments", customer_type=form.get("customer_type"), customer_id=form.get("customer_id"))


async def grant_product(f: Frame, form: dict) -> Response:
    ctype, cid, product = form.get("customer_type", ""), form.get("customer_id", ""), form.get("product_id", "")
    quantity = whole_number(form, "quantity", 1, "The quantity must be a whole number.")
    await f.api.post(f"/payments/products/{seg(ctype)}/{seg(cid)}", {"product_id": product, "quantity": quantity})
    return back(_customer_url(f, form), f"Granted {product}.")


async def change_item(f: Frame, form: dict) -> Response:
    ctype, cid, item = form.get("customer_type", ""), form.get("customer_id", ""), form.get("item_id", "")
    delta = whole_number(form, "delta", 0, "The change must be a whole number, such as 10 or -5.")
    body = {"delta": delta, **({"description": form["description"]} if form.get("description") else {})}
    await f.api.post(f"/payments/items/{seg(ctype)}/{seg(cid)}/{seg(item)}/update-quantity", body,
                     allow_negative="true" if checked(form, "allow_negative") else "false")
    return back(_customer_url(f, form), f"{item} changed by {delta:+d}.")


async def refund(f: Frame, form: dict) -> Response:
    """A full refund of a paid purchase: every unit of its product grant, its whole USD charge."""
    body = {"type": form.get("kind"), "id": form.get("transaction_id"), "refund_entries": [{
        "entry_index": 0, "quantity": whole_number(form, "quantity", 0, "The quantity must be a whole number."),
        "amount_usd": text(form, "amount_usd") or "0"}]}
    await f.api.post("/internal/payments/transactions/refund", body)
    return back(_customer_url(f, form) if form.get("customer_id") else f.url("/payments"), "Refunded.")


async def advance_clock(f: Frame, form: dict) -> Response:
    duration = text(form, "duration")
    reading = await f.api.post("/emulator/clock/advance", {"duration": duration})
    return back(_customer_url(f, form) if form.get("customer_id") else f.url("/payments"),
                f"Clock advanced by {duration}: it is now {reading['now']}.")


# ---- routes ----------------------------------------------------------------------------------------------------------

routes: list = [
    Route("/", overview_page, methods=["GET"]),
    Route("/", actions({"rename": rename_project}), methods=["POST"]),
    Route("/users", users_page, methods=["GET"]),
    Route("/users", actions({"create": create_user}), methods=["POST"]),
    Route("/users/{user_id}", user_page, methods=["GET"]),
    Route("/users/{user_id}", actions({
        "profile": update_profile, "metadata": update_metadata, "restriction": update_restriction,
        "revoke-session": revoke_session, "grant-team-permission": grant_team_permission,
        "revoke-team-permission": revoke_team_permission, "grant-project-permission": grant_project_permission,
        "revoke-project-permission": revoke_project_permission, "delete": delete_user, "impersonate": impersonate,
    }), methods=["POST"]),
    Route("/teams", teams_page, methods=["GET"]),
    Route("/teams", actions({"create": create_team}), methods=["POST"]),
    Route("/teams/{team_id}", team_page, methods=["GET"]),
    Route("/teams/{team_id}", actions({
        "update": update_team, "add-member": add_member, "remove-member": remove_member,
        "grant-team-permission": grant_team_permission, "revoke-team-permission": revoke_team_permission,
        "invite": send_invitation, "revoke-invitation": revoke_invitation, "create-api-key": create_api_key,
        "revoke-api-key": revoke_api_key, "delete": delete_team,
    }), methods=["POST"]),
    Route("/config", config_page, methods=["GET"]),
    Route("/config", actions({"switches": save_switches, "set-key": set_config_key}), methods=["POST"]),
    Route("/payments", payments_page, methods=["GET"]),
    Route("/payments", actions({"grant": grant_product, "change-item": change_item, "refund": refund,
                                "advance-clock": advance_clock}), methods=["POST"]),
]
