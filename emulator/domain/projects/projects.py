"""Projects: the built-in `internal` project, one project per hexclave.config.py, their keys and configs."""
from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.projects import config as config_mod
from emulator.domain.auth.tokens import random_token
from emulator.store.models import ApiKeySet, ConfigLevels, Project

INTERNAL_PROJECT_ID = "internal"
INTERNAL_KEY_SET_ID = "3142e763-b230-44b5-8636-aa62f7489c26"
# The well-known local-development keys of the internal project.
INTERNAL_PUBLISHABLE_CLIENT_KEY = "this-publishable-client-key-is-for-local-development-only"
INTERNAL_SECRET_SERVER_KEY = "this-secret-server-key-is-for-local-development-only"
INTERNAL_SUPER_SECRET_ADMIN_KEY = "this-super-secret-admin-key-is-for-local-development-only"

# The dashboard's own billing, as the platform seeds its internal project: plans for the teams that own projects,
# whose `dashboard_admins` item caps how many members such a team may have.
DASHBOARD_SEATS_ITEM = "dashboard_admins"
_PLAN_ITEMS = {DASHBOARD_SEATS_ITEM: "Dashboard Admins", "auth_users": "Auth Users",
               "emails_per_month": "Emails per Month", "analytics_timeout_seconds": "Analytics Timeout (seconds)",
               "analytics_events": "Analytics Events"}
_PLAN_LIMITS = {"free": (1, 10_000, 1_000, 10, 100_000), "team": (4, 50_000, 25_000, 60, 500_000),
                "growth": (1_000_000_000, 1_000_000_000, 25_000, 300, 1_000_000)}


def _plan(name: str, usd: str, limits: tuple[int, ...], price_id: str = "monthly", **extra: Any) -> dict[str, Any]:
    return {"productLineId": "plans", "displayName": name, "customerType": "team", "serverOnly": False,
            "stackable": False, "prices": {price_id: {"USD": usd, "interval": [1, "month"]}},
            "includedItems": {item: {"quantity": quantity, "repeat": "never", "expires": "when-purchase-expires"}
                              for item, quantity in zip(_PLAN_ITEMS, limits)}, **extra}


INTERNAL_PLANS = {
    "productLines": {"plans": {"displayName": "Plans", "customerType": "team"}},
    "products": {
        "free": _plan("Free", "0", _PLAN_LIMITS["free"], price_id="free-monthly"),
        "team": _plan("Team", "49", _PLAN_LIMITS["team"]),
        "growth": _plan("Growth", "299", _PLAN_LIMITS["growth"]),
        "extra-seats": _plan("Extra Seats", "29", (1,), stackable=True, isAddOnTo={"team": True, "growth": True}),
    },
    "items": {item: {"displayName": name, "customerType": "team"} for item, name in _PLAN_ITEMS.items()},
}
_TEAM_ADMIN = {"$update_team": True, "$delete_team": True, "$read_members": True, "$remove_members": True,
               "$invite_members": True, "$manage_api_keys": True}
INTERNAL_CONFIG = config_mod.render({
    "auth": {"allowSignUp": True, "password": {"allowSignIn": True}, "otp": {"allowSignIn": True},
             "oauth": {"providers": {p: {"type": p, "allowSignIn": True} for p in ("github", "google", "microsoft", "spotify")}}},
    "teams": {"createPersonalTeamOnSignUp": True, "allowClientTeamCreation": True},
    "rbac": {"permissions": {"team_member": {"scope": "team", "containedPermissionIds": {"$read_members": True}},
                             "team_admin": {"scope": "team", "containedPermissionIds": {
                                 "$read_members": True, "$remove_members": True, "$update_team": True}}},
             "defaultPermissions": {"teamCreator": {"team_admin": True}, "teamMember": {"team_member": True}}},
    "apps": {"installed": {a: {"enabled": True} for a in ("authentication", "teams", "rbac", "api-keys", "emails")}},
    "payments": INTERNAL_PLANS,
})


@dataclass(frozen=True)
class ProjectView:
    """What request handling needs of a project: its id, name and current (rendered) config."""
    id: str
    display_name: str
    config: dict[str, Any]


@dataclass(frozen=True)
class _KeySet:
    keys: dict[str, str | None]
    expires_at_millis: int | None
    revoked: bool

    def accepts(self, access_type: str, key: str) -> bool:
        live = not self.revoked and (self.expires_at_millis is None or self.expires_at_millis > now_millis())
        return live and self.keys[access_type] == key


class ProjectDirectory:
    """Projects and their keys, cached in memory (they change rarely; the code that changes them calls forget()),
    and where each project's config comes from: a watched file, the built-in internal config, or the database."""

    def __init__(self) -> None:
        self.files: dict[str, config_mod.ConfigFile] = {}
        self._projects: dict[str, list[Any]] = {}
        self._key_sets: dict[str, list[_KeySet]] = {}

    def bind(self, project_id: str, config_file: config_mod.ConfigFile) -> None:
        self.files[project_id] = config_file

    def forget(self, project_id: str | None = None) -> None:
        """Drop the cached project (all of them without an id: after a reset or a snapshot restore)."""
        if project_id is None:
            self._projects.clear()
            self._key_sets.clear()
        self._projects.pop(project_id, None)
        self._key_sets.pop(project_id, None)

    async def view(self, db: AsyncSession, project_id: str) -> ProjectView | None:
        # Cache entry: [display name, project override, branch override (DB), environment override, rendered config,
        # the branch override it was rendered from]; a config file's override is compared by identity, so a hot
        # reload re-renders.
        cached = self._projects.get(project_id)
        if cached is None:
            row = await db.get(Project, project_id)
            if row is None:
                return None
            levels = await db.get(ConfigLevels, project_id)
            cached = self._projects[project_id] = [
                row.display_name, (levels.project_override if levels else None) or {}, row.config_override or {},
                (levels.environment_override if levels else None) or {}, None, None]
        display_name, project_level, branch, environment, rendered, rendered_from = cached
        config_file = self.files.get(project_id)
        if config_file is not None:
            await config_file.refresh()  # a save applies to the very next request, even before the watcher fires
            branch = config_file.override
        if rendered is None or rendered_from is not branch:
            base = INTERNAL_CONFIG if project_id == INTERNAL_PROJECT_ID else None
            rendered = cached[4] = config_mod.render(project_level, branch, environment, base=base)
            cached[5] = branch
        # A config file may name its project (project.displayName); a hot reload renames it.
        return ProjectView(project_id, rendered["project"].get("displayName") or display_name, rendered)

    async def key_is_valid(self, db: AsyncSession, project_id: str, access_type: str, key: str) -> bool:
        """A key is valid if an unrevoked, unexpired key set of this very project holds it."""
        key_sets = self._key_sets.get(project_id)
        if key_sets is None:
            rows = (await db.execute(select(ApiKeySet).where(ApiKeySet.project_id == project_id))).scalars()
            key_sets = self._key_sets[project_id] = [
                _KeySet({"client": r.publishable_client_key, "server": r.secret_server_key,
                         "admin": r.super_secret_admin_key}, r.expires_at_millis, r.manually_revoked_at_millis is not None)
                for r in rows]
        return any(k.accepts(access_type, key) for k in key_sets)


async def ensure_internal_project(db: AsyncSession) -> None:
    if await db.get(Project, INTERNAL_PROJECT_ID):
        return
    now = now_millis()
    db.add(Project(id=INTERNAL_PROJECT_ID, display_name="Stack Dashboard", description="The dashboard's own project",
                   created_at_millis=now, config_override={}))
    await db.flush()  # the key set refers to the project
    db.add(ApiKeySet(id=INTERNAL_KEY_SET_ID, project_id=INTERNAL_PROJECT_ID, description="Local development keys",
                     publishable_client_key=INTERNAL_PUBLISHABLE_CLIENT_KEY,
                     secret_server_key=INTERNAL_SECRET_SERVER_KEY,
                     super_secret_admin_key=INTERNAL_SUPER_SECRET_ADMIN_KEY, created_at_millis=now))


def full_key_set(project_id: str) -> ApiKeySet:
    """A key set with all three keys, for projects the emulator makes (config files, the test kit)."""
    return ApiKeySet(id=str(uuid.uuid4()), project_id=project_id, description="hexclave-emulator keys",
                     publishable_client_key="pck_" + random_token(), secret_server_key="ssk_" + random_token(),
                     super_secret_admin_key="sak_" + random_token(), created_at_millis=now_millis())


async def project_for_config_file(db: AsyncSession, path: Path) -> tuple[Project, ApiKeySet]:
    """The project bound to a config file path: created with fresh keys once, then the same across restarts."""
    path_str = str(path.resolve())
    project = (await db.execute(select(Project).where(Project.config_path == path_str))).scalar_one_or_none()
    if project is None:
        now = now_millis()
        project = Project(id=str(uuid.uuid4()), display_name=f"Local Emulator: {path.name}",
                          description=f"Local emulator project for {path_str}", created_at_millis=now,
                          config_path=path_str, config_override={})
        db.add(project)
        await db.flush()
        db.add(full_key_set(project.id))
        await db.flush()
    keys = (await db.execute(select(ApiKeySet).where(ApiKeySet.project_id == project.id)
                             .order_by(ApiKeySet.created_at_millis))).scalars().first()
    return project, keys


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(url) -> str:
    return f"{url.hostname}:{url.port or _DEFAULT_PORTS.get(url.scheme, '')}"


def hostname_matches(pattern: str, hostname: str) -> bool:
    """The platform's host wildcards: `*` stays within one label, `**` crosses dots."""
    if "*" not in pattern:
        return pattern == hostname
    parts = (re.escape(part).replace(r"\*", "[^.]*") for part in pattern.split("**"))
    return re.fullmatch(".*".join(parts), hostname) is not None


def _matches_domain(url, base_url: str) -> bool:
    if "*" in base_url:
        match = re.match(r"^([^:]+)://([^/]*)", base_url)
        if not match or match.group(1) != url.scheme:
            return False
        host_pattern = match.group(2)
        if ":" in host_pattern:  # a pattern with a port matches host:port (default ports made explicit)
            return hostname_matches(host_pattern, _host_port(url))
        return hostname_matches(host_pattern, url.hostname) and url.port in (None, _DEFAULT_PORTS.get(url.scheme))
    try:
        base = urlparse(base_url)
        return bool(base.hostname) and base.scheme == url.scheme and _host_port(base) == _host_port(url)
    except ValueError:
        return False


def is_localhost(hostname: str) -> bool:
    return (hostname == "localhost" or hostname.endswith(".localhost")
            or re.fullmatch(r"127\.\d+\.\d+\.\d+", hostname) is not None)


def is_trusted_url(config: dict[str, Any], url: str) -> bool:
    """Whether a callback/redirect URL points at localhost (when allowed) or a configured trusted domain."""
    try:
        parsed = urlparse(url)
        parsed.port  # noqa: B018 -- raises on a malformed port
    except ValueError:
        return False
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return False
    if config["domains"]["allowLocalhost"] and is_localhost(parsed.hostname):
        return True
    return any(_matches_domain(parsed, domain["baseUrl"])
               for domain in config["domains"]["trustedDomains"].values() if domain.get("baseUrl"))
