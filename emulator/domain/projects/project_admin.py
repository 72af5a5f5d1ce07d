"""Managing projects the way the dashboard and `StackAdminApp` do: projects owned by teams of the internal project,
their admin shape (with the legacy `config` view), project key sets (`/internal/api-keys`), deleting a project with
all of its data, and the local-emulator project mapping of the official emulator's tooling."""
from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.domain.projects import config as config_mod
from emulator.domain.projects import config_levels, config_writer, projects
from emulator.domain.teams import permissions, teams
from emulator.domain.users import users
from emulator.domain.mail.email_builtins import LIGHT_THEME_ID as DEFAULT_THEME_ID
from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.domain.auth.tokens import random_token
from emulator.errors import E, StatusError
from emulator.store.models import ApiKeySet, Base, Project, TeamMember, User

# The official emulator's seeded owner of config-file projects, so its tooling can sign in to the dashboard API.
LOCAL_EMULATOR_OWNER_TEAM_ID = "5a0c858b-d9e9-49d4-9943-8ce385d86428"
LOCAL_EMULATOR_ADMIN_USER_ID = "63abbc96-5329-454a-ba56-e0460173c6c1"
LOCAL_EMULATOR_ADMIN_EMAIL = "local-emulator@stack-auth.com"
LOCAL_EMULATOR_ADMIN_PASSWORD = "LocalEmulatorPassword"
NEVER_EXPIRES_MILLIS = 4_102_444_800_000  # 2100-01-01: what key sets without an expiry report
LOGO_FIELDS = ("logo_url", "logo_full_url", "logo_dark_mode_url", "logo_full_dark_mode_url")


def _ids(record: dict[str, Any], allowed: set[str] | None = None) -> list[dict[str, str]]:
    return [{"id": i} for i in sorted(k for k, on in record.items() if on and (allowed is None or k in allowed))]


def legacy_config(config: dict[str, Any]) -> dict[str, Any]:
    """The admin API's `config` object: the rendered config in the platform's older, flat vocabulary."""
    providers = sorted((
        {"provider_config_id": pid, "id": p["type"], "type": "standard" if p.get("clientId") else "shared",
         **({"client_id": p["clientId"], "client_secret": p.get("clientSecret")} if p.get("clientId") else {})}
        for pid, p in config["auth"]["oauth"]["providers"].items() if p.get("type") and p.get("allowSignIn")),
        key=lambda p: p["id"])
    server = config["emails"]["server"] or {}
    email_config = {"type": "shared"} if server.get("isShared", True) else {
        "type": "standard", "host": server.get("host"), "port": server.get("port"), "username": server.get("username"),
        "password": server.get("password"), "sender_name": server.get("senderName"),
        "sender_email": server.get("senderEmail")}
    team_ids = set(permissions.definitions(config, "team"))
    project_ids = set(permissions.definitions(config, "project"))
    defaults = config["rbac"]["defaultPermissions"]
    return {
        "allow_localhost": config["domains"]["allowLocalhost"],
        "client_team_creation_enabled": config["teams"]["allowClientTeamCreation"],
        "client_user_deletion_enabled": config["users"]["allowClientUserDeletion"],
        "sign_up_enabled": config["auth"]["allowSignUp"],
        "oauth_account_merge_strategy": config["auth"]["oauth"]["accountMergeStrategy"],
        "create_team_on_sign_up": config["teams"]["createPersonalTeamOnSignUp"],
        "credential_enabled": config["auth"]["password"]["allowSignIn"],
        "magic_link_enabled": config["auth"]["otp"]["allowSignIn"],
        "passkey_enabled": config["auth"]["passkey"]["allowSignIn"],
        "oauth_providers": providers,
        "enabled_oauth_providers": [{"id": p["id"]} for p in providers],
        "domains": sorted(({"domain": d["baseUrl"], "handler_path": d.get("handlerPath") or "/handler"}
                           for d in config["domains"]["trustedDomains"].values() if d.get("baseUrl")),
                          key=lambda d: d["domain"]),
        "email_config": email_config,
        "email_theme": config["emails"]["selectedThemeId"] or DEFAULT_THEME_ID,
        "team_creator_default_permissions": _ids(defaults["teamCreator"], team_ids),
        "team_member_default_permissions": _ids(defaults["teamMember"], team_ids),
        "user_default_permissions": _ids(defaults["signUp"], project_ids),
        "allow_user_api_keys": config["apiKeys"]["enabled"]["user"],
        "allow_team_api_keys": config["apiKeys"]["enabled"]["team"],
    }


def legacy_config_override(legacy: dict[str, Any]) -> dict[str, Any]:
    """Dot-key config override for the legacy `config` fields of a create/update body (absent fields untouched)."""
    simple = {
        "sign_up_enabled": "auth.allowSignUp", "credential_enabled": "auth.password.allowSignIn",
        "magic_link_enabled": "auth.otp.allowSignIn", "passkey_enabled": "auth.passkey.allowSignIn",
        "oauth_account_merge_strategy": "auth.oauth.accountMergeStrategy",
        "client_user_deletion_enabled": "users.allowClientUserDeletion",
        "client_team_creation_enabled": "teams.allowClientTeamCreation",
        "create_team_on_sign_up": "teams.createPersonalTeamOnSignUp", "allow_localhost": "domains.allowLocalhost",
        "allow_user_api_keys": "apiKeys.enabled.user", "allow_team_api_keys": "apiKeys.enabled.team",
        "email_theme": "emails.selectedThemeId", "require_email_verification": "onboarding.requireEmailVerification",
    }
    out = {path: legacy[key] for key, path in simple.items() if key in legacy}
    for key, path in (("team_creator_default_permissions", "rbac.defaultPermissions.teamCreator"),
                      ("team_member_default_permissions", "rbac.defaultPermissions.teamMember"),
                      ("user_default_permissions", "rbac.defaultPermissions.signUp")):
        if key in legacy:  # the list replaces the defaults: built-in default grants not listed are removed (null)
            built_in = config_mod.DEFAULTS["rbac"]["defaultPermissions"][path.rsplit(".", 1)[1]]
            out[path] = {**{pid: None for pid in built_in}, **{p["id"]: True for p in legacy[key]}}
    if "domains" in legacy:
        out["domains.trustedDomains"] = {str(uuid.uuid4()): {"baseUrl": d["domain"], "handlerPath": d["handler_path"]}
                                         for d in legacy["domains"]}
    if "oauth_providers" in legacy:
        out["auth.oauth.providers"] = {p["id"]: {
            "type": p["id"], "allowSignIn": True, "allowConnectedAccounts": True,
            **({"clientId": p.get("client_id"), "clientSecret": p.get("client_secret")} if p.get("type") == "standard"
               else {}),
            **({"facebookConfigId": p["facebook_config_id"]} if p.get("facebook_config_id") else {}),
            **({"microsoftTenantId": p["microsoft_tenant_id"]} if p.get("microsoft_tenant_id") else {}),
            **({"appleBundles": {str(uuid.uuid4()): {"bundleId": b} for b in p["apple_bundle_ids"]}}
               if p.get("apple_bundle_ids") else {}),
        } for p in legacy["oauth_providers"]}
    if "email_config" in legacy:
        e = legacy["email_config"]
        out["emails.server"] = {"isShared": True} if e["type"] == "shared" else {
            "isShared": False, "host": e.get("host"), "port": e.get("port"), "username": e.get("username"),
            "password": e.get("password"), "senderName": e.get("sender_name"), "senderEmail": e.get("sender_email")}
    return out


def admin_shape(row: Project, view: ProjectView) -> dict[str, Any]:
    return {"id": row.id, "display_name": row.display_name, "description": row.description or "",
            **{f: getattr(row, f) for f in LOGO_FIELDS}, "created_at_millis": row.created_at_millis,
            "is_production_mode": bool(row.is_production_mode), "owner_team_id": row.owner_team_id,
            "onboarding_status": row.onboarding_status or "completed", "config": legacy_config(view.config)}


async def owned_project_ids(db: AsyncSession, user: User) -> list[str]:
    """Projects a dashboard user administers: those owned by the internal-project teams they belong to."""
    team_ids = select(TeamMember.team_id).where(TeamMember.user_id == user.id)
    rows = await db.execute(select(Project.id).where(Project.owner_team_id.in_(team_ids))
                            .order_by(Project.created_at_millis, Project.id))
    return list(rows.scalars())


async def transfer_project(db: AsyncSession, internal: ProjectView, user: User, project_id: str,
                           new_team_id: str) -> None:
    """Give a project to another internal-project team: the user must administer its owner team and belong to the
    new one (as a member, not necessarily an admin)."""
    row = await db.get(Project, project_id)
    if row is None:
        raise E.project_not_found(project_id)
    if row.owner_team_id is None:
        raise StatusError(400, "This project has no owner team, so it cannot be transferred.")
    await permissions.require_team_permission(db, internal, row.owner_team_id, user.id, "team_admin")
    await permissions.require_membership(db, internal, new_team_id, user.id)
    row.owner_team_id = new_team_id


async def create_project(db: AsyncSession, directory: projects.ProjectDirectory, internal: ProjectView, user: User,
                         data: dict[str, Any]) -> Project:
    await permissions.require_membership(db, internal, data["owner_team_id"], user.id)
    row = Project(id=str(uuid.uuid4()), display_name=data["display_name"], description=data.get("description") or "",
                  created_at_millis=now_millis(), owner_team_id=data["owner_team_id"],
                  is_production_mode=bool(data.get("is_production_mode")), config_override={},
                  onboarding_status=data.get("onboarding_status") or "completed",
                  **{f: data.get(f) for f in LOGO_FIELDS})
    db.add(row)
    await db.flush()
    # Like the platform, a new project's settings and the legacy `config` fields are environment-level overrides.
    await config_levels.patch(db, directory, row.id, "environment", {
        "auth.password.allowSignIn": True, "domains.allowLocalhost": True,
        **legacy_config_override(data.get("config") or {})})
    directory.forget(row.id)
    return row


async def update_project(db: AsyncSession, directory: projects.ProjectDirectory, row: Project,
                         data: dict[str, Any]) -> None:
    for field in ("display_name", "is_production_mode", "onboarding_status", *LOGO_FIELDS):
        if field in data:
            setattr(row, field, data[field])
    if "description" in data:
        row.description = data["description"] or ""
    await db.flush()
    if data.get("config"):
        await config_levels.patch(db, directory, row.id, "environment", legacy_config_override(data["config"]))
    directory.forget(row.id)


async def delete_project(db: AsyncSession, directory: projects.ProjectDirectory, project_id: str) -> None:
    """Delete a project and everything that belongs to it (every table with a project_id column)."""
    for table in reversed(Base.metadata.sorted_tables):
        if "project_id" in table.c:
            await db.execute(delete(table).where(table.c.project_id == project_id))
    await db.execute(delete(Project).where(Project.id == project_id))
    directory.forget(project_id)
    directory.files.pop(project_id, None)


# ---- project key sets (/internal/api-keys) ------------------------------------------------------------------------

def key_set_shape(row: ApiKeySet, *, first_view: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "description": row.description, "created_at_millis": row.created_at_millis,
                           "expires_at_millis": row.expires_at_millis or NEVER_EXPIRES_MILLIS}
    if row.manually_revoked_at_millis is not None:
        out["manually_revoked_at_millis"] = row.manually_revoked_at_millis
    for field in ("publishable_client_key", "secret_server_key", "super_secret_admin_key"):
        value = getattr(row, field)
        if value is not None:
            out[field] = value if first_view else {"last_four": value[-4:]}
    return out


async def create_key_set(db: AsyncSession, directory: projects.ProjectDirectory, project_id: str,
                         data: dict[str, Any]) -> ApiKeySet:
    row = ApiKeySet(id=str(uuid.uuid4()), project_id=project_id, description=data["description"],
                    created_at_millis=now_millis(), expires_at_millis=data["expires_at_millis"],
                    publishable_client_key="pck_" + random_token() if data.get("has_publishable_client_key") else None,
                    secret_server_key="ssk_" + random_token() if data.get("has_secret_server_key") else None,
                    super_secret_admin_key="sak_" + random_token() if data.get("has_super_secret_admin_key") else None)
    db.add(row)
    await db.flush()
    directory.forget(project_id)
    return row


async def require_key_set(db: AsyncSession, project_id: str, key_set_id: str) -> ApiKeySet:
    row = await db.get(ApiKeySet, key_set_id)
    if row is None or row.project_id != project_id:
        raise E.api_key_not_found()
    return row


# ---- the official emulator's owner and project mapping ------------------------------------------------------------

async def ensure_local_emulator_owner(db: AsyncSession, directory: projects.ProjectDirectory, rounds: int) -> None:
    """Seed the official emulator's admin user and owner team in the internal project, and let that team own every
    config-file project, so tools signing in as that user can administer them."""
    internal = await directory.view(db, projects.INTERNAL_PROJECT_ID)
    if await db.get(User, LOCAL_EMULATOR_ADMIN_USER_ID) is None:
        await users.create(db, internal, {"primary_email": LOCAL_EMULATOR_ADMIN_EMAIL, "primary_email_verified": True,
                                          "primary_email_auth_enabled": True, "password": LOCAL_EMULATOR_ADMIN_PASSWORD,
                                          "display_name": "Local Emulator Admin"},
                           rounds=rounds, user_id=LOCAL_EMULATOR_ADMIN_USER_ID)
    if await teams.get(db, internal, LOCAL_EMULATOR_OWNER_TEAM_ID) is None:
        team = await teams.create(db, internal, {"display_name": "Local Emulator"}, None,
                                  team_id=LOCAL_EMULATOR_OWNER_TEAM_ID)
        await teams.add_member(db, internal, team, LOCAL_EMULATOR_ADMIN_USER_ID, "creator")
    rows = await db.execute(select(Project).where(Project.config_path.is_not(None), Project.owner_team_id.is_(None)))
    for row in rows.scalars():
        row.owner_team_id = LOCAL_EMULATOR_OWNER_TEAM_ID


async def local_emulator_project(db: AsyncSession, directory: projects.ProjectDirectory,
                                 path: Path) -> tuple[Project, ApiKeySet]:
    """The project of a config file registered by a client (the official emulator's mapping). An empty file is
    given an empty config first, in its own language, as the platform does. A registered project's environment
    level cannot be changed through the API: its settings belong to the deployment, not the local file."""
    if await asyncio.to_thread(config_mod.is_blank, path):
        await asyncio.to_thread(config_writer.write_file, path, config_writer.file_content({}, path))
    project, keys = await projects.project_for_config_file(db, path)
    if project.owner_team_id is None:
        project.owner_team_id = LOCAL_EMULATOR_OWNER_TEAM_ID
    if project.id not in directory.files:
        directory.bind(project.id, await asyncio.to_thread(config_mod.ConfigFile.open, path))
    directory.files[project.id].registered = True
    return project, keys
