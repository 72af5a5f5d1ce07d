"""Request authentication, in the reference's order of checks (see contract-core §1.2)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from emulator.domain.projects import project_admin, projects
from emulator.domain.auth import tokens
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E, StatusError
from emulator.store.models import User

ACCESS_TYPES = ("client", "server", "admin")
KEY_HEADERS = {"client": "publishable-client-key", "server": "secret-server-key", "admin": "super-secret-admin-key"}
PUBLIC_CLIENT_SENTINEL = "__stack_public_client__"


def header(request: Request, name: str) -> str | None:
    """A protocol header by its suffix, in the x-hexclave-* form first, then the legacy x-stack-* form."""
    found = protocol_headers(request)
    value = found.get("x-hexclave-" + name)
    return found.get("x-stack-" + name) if value is None else value


def protocol_headers(request: Request) -> dict[str, str]:
    """The request's x-hexclave-* and x-stack-* headers, collected once per request: a request asks for a dozen of
    them, and each request.headers lookup scans every header. The first of repeated headers wins, as there."""
    found = request.scope.get("hexclave.protocol_headers")
    if found is None:
        found = {}
        for raw_name, raw_value in request.scope["headers"]:  # names arrive lower-cased (ASGI)
            if raw_name.startswith((b"x-hexclave-", b"x-stack-")):
                found.setdefault(raw_name.decode("latin-1"), raw_value.decode("latin-1"))
        request.scope["hexclave.protocol_headers"] = found
    return found


@dataclass
class Auth:
    access_type: str
    project: ProjectView
    user: User | None  # not loaded (None) on routes declared with load_user=False: see user_id
    refresh_token_id: str | None
    user_id: str | None = None  # the access token's user, whether or not it (still) exists


def decode_user_token(secret: str, token: str, project_id: str) -> dict[str, Any]:
    try:
        return tokens.decode(secret, token, project_id)
    except tokens.ExpiredToken as expired:
        raise expired.error() from None


async def parse_auth(request: Request, db: AsyncSession, state, *, load_user: bool = True) -> Auth | None:
    """`load_user=False`: the signed-in user is not read from the store (the route reads what it needs of them)."""
    keys = {t: header(request, h) for t, h in KEY_HEADERS.items()}
    admin_token = header(request, "admin-access-token")
    access_type = header(request, "access-type")
    if not access_type:
        if any(keys.values()) or admin_token:
            raise E.project_key_without_access_type()
        return None
    if access_type not in ACCESS_TYPES:
        raise E.invalid_access_type(access_type)
    project_id = header(request, "project-id")
    if not project_id:
        raise E.access_type_without_project_id(access_type)

    claims = None
    access_token = header(request, "access-token")
    if access_token:
        claims = decode_user_token(state.signer.secret, access_token, project_id)
        token_project = claims["aud"].split(":")[0]
        if token_project != project_id:
            raise E.invalid_project_for_access_token(project_id, token_project)
        allow_anonymous = header(request, "allow-anonymous-user") == "true"
        allow_restricted = allow_anonymous or header(request, "allow-restricted-user") == "true"
        if claims["is_anonymous"] and not allow_anonymous:
            raise E.anonymous_authentication_not_allowed()
        if claims["is_restricted"] and not claims["is_anonymous"] and not allow_restricted:
            raise E.restricted_user_not_allowed(claims["restricted_reason"])

    project = await state.projects.view(db, project_id)
    if project is None:
        raise E.current_project_not_found(project_id)

    await _check_keys(request, db, state, project, access_type, keys, admin_token)

    branch_id = header(request, "branch-id") or "main"
    if branch_id != "main":
        raise E.branch_does_not_exist(branch_id)

    user = None
    if claims is not None and load_user:
        user = await db.get(User, claims["sub"])
        if user is not None and user.project_id != project.id:
            user = None
    if claims is None:
        return Auth(access_type, project, None, None)
    return Auth(access_type, project, user, claims["refresh_token_id"], claims["sub"])


async def _check_keys(request: Request, db: AsyncSession, state, project: ProjectView, access_type: str,
                      keys: dict[str, str | None], admin_token: str | None) -> None:
    override_key = header(request, "development-override-key")
    if override_key is not None:
        if override_key != projects.INTERNAL_SUPER_SECRET_ADMIN_KEY:
            raise StatusError(401, "Invalid development override key")
        return
    if admin_token:
        await _check_admin_token(db, state, admin_token, project.id)
        return
    key = keys[access_type]
    if access_type == "client":
        required = project.config["project"]["requirePublishableClientKey"]
        if not key or key == PUBLIC_CLIENT_SENTINEL:
            if required:
                raise E.publishable_client_key_required(project.id)
            return
        if not await state.projects.key_is_valid(db, project.id, "client", key):
            raise E.invalid_publishable_client_key(project.id)
    elif access_type == "server":
        if not key:
            raise E.server_authentication_required()
        if not await state.projects.key_is_valid(db, project.id, "server", key):
            raise E.invalid_secret_server_key(project.id)
    else:
        if not key:
            raise E.admin_authentication_required()
        if not await state.projects.key_is_valid(db, project.id, "admin", key):
            raise E.invalid_super_secret_admin_key(project.id)


async def _check_admin_token(db: AsyncSession, state, token: str, project_id: str) -> None:
    """A dashboard user's access token (internal project) works as an admin key for the projects their teams own."""
    try:
        claims = tokens.decode(state.signer.secret, token, projects.INTERNAL_PROJECT_ID)
    except tokens.ExpiredToken as expired:
        exp = expired.claims.get("exp")
        raise E.admin_access_token_expired(int(exp) * 1000 if isinstance(exp, (int, float)) else None) from None
    except StatusError:
        raise E.unparsable_admin_access_token() from None
    if claims.get("is_anonymous") or claims.get("is_restricted"):
        raise E.unparsable_admin_access_token()
    if claims["project_id"] != projects.INTERNAL_PROJECT_ID:
        raise E.admin_access_token_is_not_admin()
    user = await db.get(User, claims["sub"])
    if user is None or user.project_id != projects.INTERNAL_PROJECT_ID:
        raise StatusError(401, "The user of this admin access token no longer exists; sign in again for a new token.")
    if project_id not in await project_admin.owned_project_ids(db, user):
        raise E.admin_access_token_is_not_admin()
