"""Config override levels (project → branch → environment): what each level may hold, and where it is kept.

The branch level of a config-file project *is* its hexclave.config.py (writes go back into the file); of any other
project it is `projects.config_override`. Project and environment levels, and the branch config's source, live in
the `config_levels` table, never in a file. `ProjectDirectory.view` renders the three levels together.
"""
from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from emulator import json_input
from emulator.domain.projects import config as config_mod
from emulator.domain.projects import config_writer
from emulator.domain.auth import sign_up_rules
from emulator.domain.projects.config import AnyValue, Obj, Record, Scalar, Spec
from emulator.domain.payments import legacy_names
from emulator.domain.projects.projects import ProjectDirectory
from emulator.errors import StatusError
from emulator.store.models import ConfigLevels, Project

LEVELS = ("project", "branch", "environment")


# ---- what each level may hold -------------------------------------------------------------------------------------

def _without(spec: Spec, paths: list[list[str]]) -> Spec:
    """A copy of `spec` without the given key paths ("*" stands for any record entry)."""
    if isinstance(spec, Obj):
        fields = {k: _without(sub, [p[1:] for p in paths if p[0] == k and len(p) > 1])
                  for k, sub in spec.fields.items() if [k] not in paths}
        return Obj(**fields)
    if isinstance(spec, Record):
        return Record(_without(spec.value, [p[1:] for p in paths if p[0] == "*" and len(p) > 1]), spec.key_pattern)
    return spec


# Secrets and per-deployment settings: environment level only (the file never holds them when written by the API).
ENVIRONMENT_ONLY = ["domains.allowLocalhost", "domains.trustedDomains", "emails.server", "payments.testMode",
                    *(f"auth.oauth.providers.*.{k}" for k in ("isShared", "clientId", "clientSecret",
                                                              "facebookConfigId", "microsoftTenantId", "appleBundles"))]
# Settable only at the project level.
PROJECT_ONLY = ["project"]

SCHEMAS: dict[str, Spec] = {
    "project": Obj(project=config_mod.SCHEMA.fields["project"], sourceOfTruth=AnyValue()),
    "branch": _without(config_mod.SCHEMA, [p.split(".") for p in ENVIRONMENT_ONLY + PROJECT_ONLY]),
    "environment": _without(config_mod.SCHEMA, [p.split(".") for p in PROJECT_ONLY]),
}

_KEY = re.compile(r"^[a-zA-Z0-9_:$][a-zA-Z0-9_:$\-]*(\.[a-zA-Z0-9_:$][a-zA-Z0-9_:$\-]*)*$")
_TYPE_NAMES = {bool: "boolean", str: "string", int: "number", float: "number"}


def _resolve(spec: Spec | None, parts: list[str]) -> Spec | None:
    for part in parts:
        if isinstance(spec, Obj):
            spec = spec.fields.get(part)
        elif isinstance(spec, Record):
            spec = spec.value
        elif isinstance(spec, AnyValue):
            return spec
        else:
            return None
    return spec


def _value_error(spec: Spec, value: Any, path: str) -> str | None:
    """The first problem of `value` at `path`, worded like the platform's validator (null is always allowed)."""
    if value is None or isinstance(spec, AnyValue):
        return None
    if isinstance(spec, (Obj, Record)) and not isinstance(value, dict):
        return f"{path} must be a `object` type, but the final value was: `{json.dumps(value)}`."
    if isinstance(spec, Scalar):
        if (isinstance(value, bool) and bool not in spec.types) or not isinstance(value, spec.types):
            return f"{path} must be a `{_TYPE_NAMES.get(spec.types[0], 'mixed')}` type, but the final value was: " \
                   f"`{json.dumps(value)}`."
        if spec.choices and value not in spec.choices:
            return f"{path} must be one of the following values: {', '.join(map(str, spec.choices))}"
        if spec.pattern and not spec.pattern.match(value):
            return f'{path} must match the following: "{spec.pattern.pattern}"'
        return None
    if isinstance(spec, Obj):
        unknown = [k for k in value if k not in spec.fields]
        if unknown:
            return f"{path} contains unknown properties: {', '.join(unknown)}"
        for key, sub in value.items():
            if (problem := _value_error(spec.fields[key], sub, f"{path}.{key}")):
                return problem
    if isinstance(spec, Record):
        for key, sub in value.items():
            if not spec.key_pattern.match(key):
                return f"{path} has an invalid key {json.dumps(key)}"
            if (problem := _value_error(spec.value, sub, f"{path}.{key}")):
                return problem
    return None


def override_error(level: str, override: Any) -> str | None:
    """Why `override` cannot be stored at `level` (the platform's messages), or None."""
    if not isinstance(override, dict):
        return "Config override must be a non-null object."

    def nested_dot(value: Any) -> str | None:
        if isinstance(value, dict):
            for k, v in value.items():
                if "." in k:
                    return k
                if (found := nested_dot(v)):
                    return found
        return None

    for key, value in override.items():
        if (found := nested_dot(value)):
            return f"Key {found} contains a dot, which is not allowed in config override."
    for key in override:
        if not _KEY.match(key):
            return f"Invalid config format: the key {json.dumps(key)} may only hold letters, digits, dots, " \
                   "underscores, colons, dollar signs and hyphens, and must not start with a hyphen."
    schema = SCHEMAS[level]
    for key, value in override.items():
        parts = key.split(".")
        spec = _resolve(schema, parts)
        if spec is None:
            prefix = next(".".join(parts[:i]) for i in range(1, len(parts) + 1) if _resolve(schema, parts[:i]) is None)
            return f"The key {json.dumps(key)} is not valid (nested object not found in schema: {json.dumps(prefix)})."
        if (problem := _value_error(spec, value, key)):
            return problem
    try:
        problems = sign_up_rules.condition_problems(config_mod.nest(override))
    except ValueError:  # conflicting dotted keys: rendering reports them
        problems = []
    return f"Invalid sign-up rule condition: {problems[0]}" if problems else None


def parse(level: str, text: str) -> dict[str, Any]:
    """A JSON override string from the API, checked for `level`; text 400s like the platform."""
    try:
        value = json_input.loads(text)
    except ValueError:
        raise StatusError(400, "Invalid config JSON") from None
    if level != "project" and isinstance(value, dict):
        value = legacy_names.migrate_config(value)
    if (problem := override_error(level, value)):
        raise StatusError(400, problem)
    return value


# ---- where each level is kept -------------------------------------------------------------------------------------

async def _levels_row(db: AsyncSession, project_id: str, create: bool = False) -> ConfigLevels | None:
    row = await db.get(ConfigLevels, project_id)
    if row is None and create:
        row = ConfigLevels(project_id=project_id, project_override={}, environment_override={})
        db.add(row)
    return row


def check_api_writable(directory: ProjectDirectory, project_id: str, level: str) -> None:
    """A project registered through /internal/local-emulator/project keeps its environment level out of reach of
    the config API, as the platform's local emulator does (that level belongs to the deployment)."""
    config_file = directory.files.get(project_id)
    if level == "environment" and config_file is not None and config_file.registered:
        raise StatusError(400, "Environment config overrides cannot be changed in the local emulator; set them in "
                               "your deployment instead (the branch level is the config file).")


async def get(db: AsyncSession, directory: ProjectDirectory, project_id: str, level: str) -> dict[str, Any]:
    if level == "branch":
        config_file = directory.files.get(project_id)
        if config_file is not None:
            await config_file.refresh()
            return config_file.override
        project = await db.get(Project, project_id)
        return (project.config_override if project else None) or {}
    row = await _levels_row(db, project_id)
    return (getattr(row, f"{level}_override") if row else None) or {}


async def put(db: AsyncSession, directory: ProjectDirectory, project_id: str, level: str,
              override: dict[str, Any]) -> None:
    """Replace one level's override. A config-file project's branch level is written back into its file."""
    if level == "branch":
        config_file = directory.files.get(project_id)
        if config_file is not None:
            await config_writer.write_back(config_file, override)
        else:
            project = await db.get(Project, project_id)
            project.config_override = override
    else:
        row = await _levels_row(db, project_id, create=True)
        setattr(row, f"{level}_override", override)
    await db.flush()
    directory.forget(project_id)


async def patch(db: AsyncSession, directory: ProjectDirectory, project_id: str, level: str,
                change: dict[str, Any]) -> None:
    await put(db, directory, project_id, level, config_mod.override(await get(db, directory, project_id, level), change))


async def reset_keys(db: AsyncSession, directory: ProjectDirectory, project_id: str, level: str,
                     keys: list[str]) -> None:
    current = await get(db, directory, project_id, level)
    if keys:
        await put(db, directory, project_id, level, config_mod.remove_keys(current, keys))


UNLINKED = {"type": "unlinked"}


async def get_source(db: AsyncSession, project_id: str) -> dict[str, Any]:
    row = await _levels_row(db, project_id)
    return (row.branch_source if row else None) or UNLINKED


async def set_source(db: AsyncSession, project_id: str, source: dict[str, Any]) -> None:
    row = await _levels_row(db, project_id, create=True)
    row.branch_source = source
    await db.flush()
