"""Small helpers shared by the wire-fidelity tests (request auth, validation, users, tokens, passwords, misc).

Every helper talks HTTP to a running emulator (see support.py); nothing here knows the emulator's internals.
"""
from __future__ import annotations

import re
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt

from support import INTERNAL_PCK, INTERNAL_SAK, INTERNAL_SSK, Emulator

PASSWORD = "correct-horse-battery"
JSON_CT = "application/json; charset=utf-8"
TEXT_CT = "text/plain; charset=utf-8"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# 45 lowercase Crockford base32 characters (no i, l, o, u).
REFRESH_TOKEN_RE = re.compile(r"^[0-9a-hjkmnp-tv-z]{45}$")

CLIENT_USER_KEYS = {
    "id", "primary_email", "primary_email_verified", "display_name", "client_metadata", "client_read_only_metadata",
    "profile_image_url", "signed_up_at_millis", "has_password", "auth_with_email", "oauth_providers",
    "selected_team_id", "requires_totp_mfa", "otp_auth_enabled", "passkey_auth_enabled", "is_anonymous",
    "is_restricted", "restricted_reason", "restricted_by_admin", "restricted_by_admin_reason", "selected_team",
}
SERVER_ONLY_USER_KEYS = {
    "primary_email_auth_enabled", "last_active_at_millis", "server_metadata", "restricted_by_admin_private_details",
    "country_code", "risk_scores",
}
SERVER_USER_KEYS = CLIENT_USER_KEYS | SERVER_ONLY_USER_KEYS

ACCESS_TOKEN_CLAIMS = {
    "sub", "iss", "aud", "iat", "exp", "project_id", "branch_id", "refresh_token_id", "role", "name", "email",
    "email_verified", "selected_team_id", "signed_up_at", "is_anonymous", "is_restricted", "restricted_reason",
    "requires_totp_mfa",
}

ALLOW_ANON = {"x-stack-allow-anonymous-user": "true"}
ALLOW_RESTRICTED = {"x-stack-allow-restricted-user": "true"}


def unique(prefix: str = "t") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def fresh_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


# ---- requests -------------------------------------------------------------------------------------------------------

_CLIENTS: dict[tuple[int, int], httpx.Client] = {}
_KEY_HEADERS = {"client": "publishable-client-key", "server": "secret-server-key", "admin": "super-secret-admin-key"}


def _client(emu: Emulator) -> httpx.Client:
    """One pooled client per emulator (creating an httpx.Client per request is slow)."""
    key = (emu.port, emu.proc.pid)
    c = _CLIENTS.get(key)
    if c is None or c.is_closed:
        c = _CLIENTS[key] = httpx.Client(timeout=10)
    return c


def auth_headers(emu: Emulator, access: str | None, *, project_id: str | None = None, key: str | None = None,
                 prefix: str = "x-stack", token: str | None = None) -> dict[str, str]:
    """The headers support.Emulator.http would send for one access type."""
    h: dict[str, str] = {}
    if access:
        h[f"{prefix}-access-type"] = access
        h[f"{prefix}-project-id"] = project_id or emu.project_id
        if project_id == "internal":
            default_key = {"client": INTERNAL_PCK, "server": INTERNAL_SSK, "admin": INTERNAL_SAK}[access]
        else:
            default_key = {"client": emu.pck, "server": emu.ssk, "admin": None}[access]
        the_key = default_key if key is None else key
        if the_key:
            h[f"{prefix}-{_KEY_HEADERS[access]}"] = the_key
    if token:
        h[f"{prefix}-access-token"] = token
    return h


def call(emu: Emulator, method: str, path: str, *, access: str | None = "client", token: str | None = None,
         project_id: str | None = None, key: str | None = None, prefix: str = "x-stack",
         headers: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
    """One request on /api/v1 (`path` relative to it, or an absolute URL) with the headers of one access type."""
    h = auth_headers(emu, access, project_id=project_id, key=key, prefix=prefix, token=token)
    h.update(headers or {})
    url = path if path.startswith("http") else emu.api + path
    return _client(emu).request(method, url, headers=h, **kw)


def raw(emu: Emulator, method: str, path: str, **kw: Any) -> httpx.Response:
    """A request with no Hexclave/Stack headers at all; `path` is relative to the server root."""
    return _client(emu).request(method, emu.url + path, **kw)


def internal(method: str, emu: Emulator, path: str, access: str = "server", **kw: Any) -> httpx.Response:
    return call(emu, method, path, access=access, project_id="internal", **kw)


# ---- response checks ------------------------------------------------------------------------------------------------

def known_error(r: httpx.Response, status: int, code: str, details: set[str] | dict | None = None) -> dict:
    """Assert a known error: status, code header, JSON body {code, details?, error}; returns the body.

    `details` is None when the error has no details (then the body must not have a `details` key), a set of the
    exact detail keys, or a dict compared for equality."""
    assert r.status_code == status, f"expected {status} {code}, got {r.status_code}: {r.text[:800]}"
    asked_hexclave = any(name.lower().startswith("x-hexclave-") for name in r.request.headers)
    assert r.headers.get("x-hexclave-known-error" if asked_hexclave else "x-stack-known-error") == code, \
        (r.headers, r.text[:800])
    assert r.headers.get("content-type", "").startswith("application/json"), r.headers
    body = r.json()
    assert body.get("code") == code, body
    assert isinstance(body.get("error"), str) and body["error"], body
    if details is None:
        assert "details" not in body, body
    elif isinstance(details, dict):
        assert body.get("details") == details, body
    else:
        assert isinstance(body.get("details"), dict), body
        assert set(body["details"]) == set(details), body
    return body


def schema_error(r: httpx.Response, method: str, path: str) -> list[str]:
    """Assert a SCHEMA_ERROR for `METHOD path` and return its `- ...` lines (without the dash)."""
    body = known_error(r, 400, "SCHEMA_ERROR", {"message"})
    message = body["error"]
    assert body["details"]["message"] == message, body
    header, *rest = message.split("\n")
    assert header == f"Request validation failed on {method} {path}:", message
    assert rest, message
    lines: list[str] = []
    for line in rest:
        if not line.startswith("  - ") and line.startswith("  ") and lines:  # a message's further lines
            lines[-1] += "\n" + line[2:]  # (a printed object, a union's schemas), indented under its dash
            continue
        assert line.startswith("  - "), message
        lines.append(line[4:])
    return lines


def text_error(r: httpx.Response, status: int, text: str | None = None) -> str:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:800]}"
    assert "x-stack-known-error" not in r.headers, r.headers
    assert r.headers.get("content-type", "").startswith("text/plain"), r.headers
    if text is not None:
        assert r.text == text, r.text
    return r.text


# The greeting's wording is free (the reference says "Welcome to the Stack API endpoint! Please refer to the
# documentation at https://docs.stack-auth.com."); its shape -- one welcome line, a blank line, then the
# "Authentication:" block -- is what is checked.
WELCOME_RE = re.compile(r"^Welcome to the [^\n]*\n\nAuthentication: (?P<auth>.*)$", re.S)


def root_auth(r: httpx.Response) -> str:
    """The text after `Authentication: ` of a GET /api/v1 answer (asserting status, type and greeting)."""
    assert r.status_code == 200, f"expected 200, got {r.status_code}: {r.text[:800]}"
    assert r.headers.get("content-type") == TEXT_CT, r.headers
    m = WELCOME_RE.match(r.text)
    assert m, repr(r.text)
    return m.group("auth")


def ok(r: httpx.Response, status: int = 200) -> Any:
    assert r.status_code == status, f"expected {status}, got {r.status_code}: {r.text[:800]}"
    return r.json()


def assert_stored_image(emu: Emulator, url: str, data_url: str, folder: str) -> None:
    """An inline image comes back as the URL of a stored file (as the platform's S3 upload) that serves its bytes."""
    import base64

    fmt = data_url.split("/", 1)[1].split(";", 1)[0]
    assert re.fullmatch(rf"{re.escape(emu.url)}/api/v1/emulator/storage/{folder}/[0-9a-f-]{{36}}\.{fmt}", url), url
    r = httpx.get(url)
    assert r.status_code == 200 and r.headers["content-type"] == f"image/{fmt}", r.text[:200]
    assert r.content == base64.b64decode(data_url.split(",", 1)[1])


# ---- users and sessions ---------------------------------------------------------------------------------------------

def sign_up(emu: Emulator, email: str | None = None, password: str = PASSWORD, **kw: Any) -> dict:
    email = email or fresh_email()
    body = ok(call(emu, "POST", "/auth/password/sign-up", json={"email": email, "password": password}, **kw))
    return {**body, "email": email, "password": password}


def sign_in(emu: Emulator, email: str, password: str = PASSWORD, **kw: Any) -> dict:
    return ok(call(emu, "POST", "/auth/password/sign-in", json={"email": email, "password": password}, **kw))


def anon_sign_up(emu: Emulator, **kw: Any) -> dict:
    return ok(call(emu, "POST", "/auth/anonymous/sign-up", **kw))


def create_user(emu: Emulator, project_id: str | None = None, **body: Any) -> dict:
    return ok(call(emu, "POST", "/users", access="server", project_id=project_id, json=body), 201)


def create_session(emu: Emulator, user_id: str, project_id: str | None = None, **body: Any) -> dict:
    return ok(call(emu, "POST", "/auth/sessions", access="server", project_id=project_id,
                   json={"user_id": user_id, **body}))


def me(emu: Emulator, token: str | None, access: str = "client", **kw: Any) -> httpx.Response:
    return call(emu, "GET", "/users/me", access=access, token=token, **kw)


def refresh(emu: Emulator, refresh_token: str, **kw: Any) -> httpx.Response:
    headers = {"x-stack-refresh-token": refresh_token, **kw.pop("headers", {})}
    return call(emu, "POST", "/auth/sessions/current/refresh", headers=headers, **kw)


def claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def jwt_header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def wait_until(deadline: float) -> None:
    delay = deadline - time.time()
    if delay > 0:
        time.sleep(delay)


# ---- extra emulators ------------------------------------------------------------------------------------------------

def write_config(config: dict | str, name: str = "hexclave.config.py") -> Path:
    """A temporary hexclave.config.py holding `config` (a dict literal or "show-onboarding")."""
    directory = Path(tempfile.mkdtemp(prefix="hexclave-test-"))
    path = directory / name
    path.write_text(f"config = {config!r}\n")
    return path


__all__ = [name for name in dir() if not name.startswith("_")] + ["INTERNAL_PCK", "INTERNAL_SSK", "INTERNAL_SAK"]


def outbox_settled(emu: Emulator, timeout: float = 10.0) -> None:
    """Wait until the project's email outbox has nothing in progress: mail sent through it (send-email, payment
    receipts) reaches the inbox from the background loop, a moment after the request that queued it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = ok(call(emu, "GET", "/emails/outbox", access="server"))["items"]
        if not any(item["simple_status"] == "in-progress" for item in items):
            return
        time.sleep(0.05)
    raise AssertionError("the outbox still has mail in progress")
