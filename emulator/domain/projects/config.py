"""Project config: the documented schema, its defaults, and hexclave.config.py files with hot reload.

A config is a dict with the camelCase sections of hexclave.config.ts. Files are validated against SCHEMA;
unknown keys and wrong types are reported with their exact key path.
"""
from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.domain.auth import sign_up_rules
from emulator.domain.payments import legacy_names
from emulator.domain.projects import config_node, config_process
from emulator.domain.mail import email_builtins

log = logging.getLogger("hexclave.config")


# ---- schema -------------------------------------------------------------------------------------------------------

class Spec:
    def check(self, value: Any, path: str, errors: list[str]) -> None:
        raise NotImplementedError


class Scalar(Spec):
    def __init__(self, *types: type, name: str, choices: tuple | None = None, pattern: str | None = None):
        self.types, self.name, self.choices = types, name, choices
        self.pattern = re.compile(pattern) if pattern else None

    def check(self, value, path, errors):
        if value is None:
            return  # null means "use the default", as in the platform's overrides
        if isinstance(value, bool) and bool not in self.types:
            errors.append(f"{path}: expected {self.name}, got a boolean")
        elif not isinstance(value, self.types):
            errors.append(f"{path}: expected {self.name}, got {type(value).__name__} {value!r}")
        elif self.choices and value not in self.choices:
            errors.append(f"{path}: must be one of {', '.join(map(str, self.choices))}, got {value!r}")
        elif self.pattern and not self.pattern.match(value):
            errors.append(f"{path}: {value!r} does not match {self.pattern.pattern}")


class Obj(Spec):
    def __init__(self, **fields: Spec):
        self.fields = fields

    def check(self, value, path, errors):
        if value is None:
            return
        if not isinstance(value, dict):
            errors.append(f"{path or 'config'}: expected an object (dict), got {type(value).__name__}")
            return
        for key, sub in value.items():
            sub_path = f"{path}.{key}" if path else str(key)
            spec = self.fields.get(key)
            if spec is None:
                errors.append(f"{sub_path}: unknown key (allowed here: {', '.join(self.fields)})")
            else:
                spec.check(sub, sub_path, errors)


class Record(Spec):
    """An object whose keys are ids chosen by the user."""
    ID = re.compile(r"^[A-Za-z0-9_$][A-Za-z0-9_:\-.]{0,62}$")

    def __init__(self, value: Spec, key_pattern: re.Pattern | None = None):
        self.value, self.key_pattern = value, key_pattern or self.ID

    def check(self, value, path, errors):
        if value is None:
            return
        if not isinstance(value, dict):
            errors.append(f"{path}: expected an object keyed by id, got {type(value).__name__}")
            return
        for key, sub in value.items():
            if not isinstance(key, str) or not self.key_pattern.match(key):
                errors.append(f"{path}: invalid id {key!r}")
            else:
                self.value.check(sub, f"{path}.{key}", errors)


class AnyValue(Spec):
    def check(self, value, path, errors):
        pass


class Interval(Spec):
    """A DayInterval, `[count, "day"|"week"|"month"|"year"]` (tuples are fine in Python), or `"never"` if allowed."""

    def __init__(self, allow_never: bool = False):
        self.allow_never = allow_never

    def check(self, value, path, errors):
        if value is None or (self.allow_never and value == "never"):
            return
        if (not isinstance(value, (list, tuple)) or len(value) != 2 or isinstance(value[0], bool)
                or not isinstance(value[0], int) or value[0] < 0 or value[1] not in INTERVAL_UNITS):
            never = ' or "never"' if self.allow_never else ""
            errors.append(f"{path}: expected [count, unit] with a whole count >= 0 and unit one of "
                          f"{', '.join(INTERVAL_UNITS)}{never}, got {value!r}")


class Money(Spec):
    """A decimal amount as a string ("5", "9.99"), with at most the currency's decimals."""
    PATTERN = re.compile(r"^(0|[1-9][0-9]*)(\.([0-9]+))?$")

    def __init__(self, decimals: int):
        self.decimals = decimals

    def check(self, value, path, errors):
        if value is None:
            return
        match = self.PATTERN.match(value) if isinstance(value, str) else None
        if match is None:
            errors.append(f"{path}: expected an amount as a string such as \"5\" or \"9.99\", got {value!r}")
        elif match.group(3) and len(match.group(3)) > self.decimals:
            errors.append(f"{path}: too many decimals ({self.decimals} at most), got {value!r}")


class Price(Obj):
    def check(self, value, path, errors):
        super().check(value, path, errors)
        if isinstance(value, dict) and not any(value.get(c) is not None for c in CURRENCIES):
            errors.append(f"{path}: a price needs at least one currency ({', '.join(CURRENCIES)})")


class OneOf(Spec):
    """The first spec whose check passes; otherwise the errors of the one chosen by `pick(value)`."""

    def __init__(self, pick, *specs: Spec):
        self.pick, self.specs = pick, specs

    def check(self, value, path, errors):
        self.specs[self.pick(value)].check(value, path, errors)


BOOL = Scalar(bool, name="a boolean")
STR = Scalar(str, name="a string")
INT = Scalar(int, name="an integer")
NUM = Scalar(int, float, name="a number")
TRUE_SET = Record(Scalar(bool, name="true"))
INTERVAL_UNITS = ("day", "week", "month", "year")
INTERVAL = Interval()
# The platform's supported currencies and their decimals.
CURRENCIES = {"USD": 2, "EUR": 2, "GBP": 2, "JPY": 0, "INR": 2, "AUD": 2, "CAD": 2}
CUSTOMER_TYPE = Scalar(str, name="a string", choices=("user", "team", "custom"))
PRICE = Price(**{c: Money(d) for c, d in CURRENCIES.items()}, interval=INTERVAL, serverOnly=BOOL, freeTrial=INTERVAL)
PRODUCT = Obj(
    displayName=STR, productLineId=STR, customerType=CUSTOMER_TYPE, freeTrial=INTERVAL, serverOnly=BOOL,
    stackable=BOOL,
    isAddOnTo=OneOf(lambda v: 0 if v is False else 1, BOOL, TRUE_SET),
    prices=OneOf(lambda v: 0 if isinstance(v, str) else 1,
                 Scalar(str, name="a string", choices=("include-by-default",)), Record(PRICE)),
    includedItems=Record(Obj(
        quantity=NUM, repeat=Interval(allow_never=True),
        expires=Scalar(str, name="a string", choices=("never", "when-purchase-expires", "when-repeated")))),
    clientMetadata=AnyValue(), clientReadOnlyMetadata=AnyValue(), serverMetadata=AnyValue(),
)

PERMISSION_ID = re.compile(r"^\$?[a-z0-9_:]+$")
EMAIL_ID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

SCHEMA = Obj(
    project=Obj(requirePublishableClientKey=BOOL, displayName=STR),  # displayName: emulator only, names the project
    apps=Obj(installed=Record(Obj(enabled=BOOL))),
    auth=Obj(
        allowSignUp=BOOL,
        password=Obj(allowSignIn=BOOL),
        otp=Obj(allowSignIn=BOOL),
        passkey=Obj(allowSignIn=BOOL),
        oauth=Obj(
            accountMergeStrategy=Scalar(str, name="a string", choices=("link_method", "raise_error", "allow_duplicates")),
            providers=Record(Obj(
                type=Scalar(str, name="a string", choices=(
                    "google", "github", "microsoft", "spotify", "facebook", "discord", "gitlab", "bitbucket",
                    "linkedin", "apple", "x", "twitch")),
                allowSignIn=BOOL, allowConnectedAccounts=BOOL,
                # Environment-level keys upstream. The emulator always simulates the provider (see README).
                isShared=BOOL, clientId=STR, clientSecret=STR, facebookConfigId=STR, microsoftTenantId=STR,
                appleBundles=Record(Obj(bundleId=STR)),
                # Emulator only: identities offered on the simulated provider's sign-in page, keyed by account id.
                emulatorIdentities=Record(Obj(email=STR, displayName=STR, profileImageUrl=STR, emailVerified=BOOL)),
            )),
        ),
        signUpRules=Record(Obj(
            enabled=BOOL, displayName=STR, priority=INT, condition=STR,
            action=Obj(type=Scalar(str, name="a string", choices=("allow", "reject", "restrict", "log")), message=STR),
        )),
        signUpRulesDefaultAction=Scalar(str, name="a string", choices=("allow", "reject")),
    ),
    rbac=Obj(
        permissions=Record(Obj(
            description=STR, scope=Scalar(str, name="a string", choices=("team", "project")),
            containedPermissionIds=Record(Scalar(bool, name="true"), PERMISSION_ID),
        ), PERMISSION_ID),
        defaultPermissions=Obj(teamCreator=Record(BOOL, PERMISSION_ID), teamMember=Record(BOOL, PERMISSION_ID),
                               signUp=Record(BOOL, PERMISSION_ID)),
    ),
    teams=Obj(createPersonalTeamOnSignUp=BOOL, allowClientTeamCreation=BOOL),
    users=Obj(allowClientUserDeletion=BOOL),
    onboarding=Obj(requireEmailVerification=BOOL),
    apiKeys=Obj(enabled=Obj(team=BOOL, user=BOOL)),
    emails=Obj(
        selectedThemeId=STR,
        # Template and theme ids are UUIDs, as upstream (send-email's template_id must be one).
        themes=Record(Obj(displayName=STR, tsxSource=STR), EMAIL_ID),
        templates=Record(Obj(displayName=STR, tsxSource=STR, themeId=Scalar(str, bool, name="a theme id or false")),
                         EMAIL_ID),
        # The project's own SMTP server; with isShared False and a host, platform mail is also relayed there.
        server=Obj(isShared=BOOL, provider=Scalar(str, name="a string", choices=("smtp", "resend", "managed")),
                   host=STR, port=INT, username=STR, password=STR, senderName=STR, senderEmail=STR,
                   managedSubdomain=STR, managedSenderLocalPart=STR),
    ),
    payments=Obj(
        blockNewPurchases=BOOL, autoPay=Obj(interval=INTERVAL), testMode=BOOL,
        productLines=Record(Obj(displayName=STR, customerType=CUSTOMER_TYPE)),
        products=Record(PRODUCT),
        items=Record(Obj(displayName=STR, customerType=CUSTOMER_TYPE)),
    ),
    # Trusted domains are environment settings upstream; the emulator accepts them here so redirects can be tested.
    domains=Obj(allowLocalhost=BOOL, trustedDomains=Record(Obj(baseUrl=STR, handlerPath=STR))),
    dataVault=Obj(stores=Record(Obj(displayName=STR))),
    dbSync=Obj(externalDatabases=Record(Obj(type=Scalar(str, name="a string", choices=("postgres",)), connectionString=STR))),
    # Emulator only: webhook endpoints of this project, keyed by their Svix uid, signed with HEXCLAVE_WEBHOOK_SECRET.
    emulatorWebhookEndpoints=Record(Obj(url=STR, description=STR, eventTypes=TRUE_SET)),
)

DEFAULTS: dict[str, Any] = {
    "project": {"requirePublishableClientKey": False},
    "apps": {"installed": {}},
    "auth": {
        "allowSignUp": True,
        "password": {"allowSignIn": False},
        "otp": {"allowSignIn": False},
        "passkey": {"allowSignIn": False},
        "oauth": {"accountMergeStrategy": "link_method", "providers": {}},
        "signUpRules": {},
        "signUpRulesDefaultAction": "allow",
    },
    # The roles every new platform project starts with; a config can redefine them, or switch a default off
    # with False (e.g. `"teamCreator": {"team_admin": False}`).
    "rbac": {
        "permissions": {
            "team_member": {"description": "Default permission for team members", "scope": "team",
                            "containedPermissionIds": {"$read_members": True, "$invite_members": True}},
            "team_admin": {"description": "Default permission for team admins", "scope": "team",
                           "containedPermissionIds": {p: True for p in (
                               "$update_team", "$delete_team", "$read_members", "$remove_members",
                               "$invite_members", "$manage_api_keys")}},
        },
        "defaultPermissions": {"teamCreator": {"team_admin": True}, "teamMember": {"team_member": True},
                               "signUp": {}},
    },
    "teams": {"createPersonalTeamOnSignUp": False, "allowClientTeamCreation": False},
    "users": {"allowClientUserDeletion": False},
    "onboarding": {"requireEmailVerification": False},
    "apiKeys": {"enabled": {"team": False, "user": False}},
    "emails": {**email_builtins.config_defaults(), "server": {"isShared": True}},
    "payments": {"blockNewPurchases": False, "testMode": True, "productLines": {}, "products": {}, "items": {}},
    # A local emulator project trusts localhost, like the official emulator's environment override.
    "domains": {"allowLocalhost": True, "trustedDomains": {}},
    "dataVault": {"stores": {}},
    "dbSync": {"externalDatabases": {}},
}


class ConfigInvalid(ValueError):
    def __init__(self, problems: list[str]):
        super().__init__("; ".join(problems))
        self.problems = problems


def validate(config: Any) -> dict[str, Any]:
    """Check a config override; "show-onboarding" stands for an empty one. Returns the dict."""
    if config == "show-onboarding":
        return {}
    errors: list[str] = []
    if not isinstance(config, dict):
        raise ConfigInvalid([f"config: expected a dict or \"show-onboarding\", got {type(config).__name__}"])
    config = legacy_names.migrate_config(config)
    SCHEMA.check(config, "", errors)
    if not errors:
        errors += payments_problems(config.get("payments"))
        errors += sign_up_rules.condition_problems(config)
    if errors:
        raise ConfigInvalid(errors)
    return config


def payments_problems(payments: Any) -> list[str]:
    """The catalogue rules the schema alone cannot express, reported at the offending key like the platform's."""
    if not isinstance(payments, dict):
        return []
    lines = payments.get("productLines") or {}
    problems = []
    for product_id, product in (payments.get("products") or {}).items():
        line_id = product.get("productLineId") if isinstance(product, dict) else None
        if line_id is None:
            continue
        path, customer_type = f"payments.products.{product_id}", product.get("customerType") or "user"
        line = lines.get(line_id)
        if not isinstance(line, dict):
            problems.append(f"{path}.productLineId: product {product_id!r} is in product line {line_id!r}, "
                            "which does not exist in payments.productLines")
        elif line.get("customerType") != customer_type:
            problems.append(f"{path}.customerType: product {product_id!r} is for {customer_type} customers but its "
                            f"product line {line_id!r} is for {line.get('customerType')} customers")
    return problems


# ---- overrides and rendering --------------------------------------------------------------------------------------
# An override is a dict whose top-level keys may use dot notation ("teams.allowClientTeamCreation"); levels are
# merged with `override()` and the result is laid over the defaults by `render()`.

def override(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """The platform's merge of two overrides: each top-level key of `over` replaces that key of `base` and every
    `key.`-prefixed key under it; everything else of `base` stays."""
    out = {k: v for k, v in base.items() if not any(k == o or k.startswith(o + ".") for o in over)}
    out.update(over)
    return out


def remove_keys(config: dict[str, Any], keys: list[str]) -> dict[str, Any]:
    """Drop `keys` from an override, whether written dotted or nested; dropping `a.b` also drops `a.b.c`."""
    out: dict[str, Any] = {}
    for key, value in config.items():
        if any(key == k or key.startswith(k + ".") for k in keys):
            continue
        inner = [k[len(key) + 1:] for k in keys if k.startswith(key + ".")]
        if inner and isinstance(value, dict):
            value = remove_keys(value, inner)
            if not value:
                continue
        out[key] = value
    return out


def nest(config: dict[str, Any]) -> dict[str, Any]:
    """An override with its dotted keys expanded into nested dicts (what a config file holds). Shallow keys first;
    missing parents are created; null removes an existing key and is kept otherwise (it then means "reset")."""
    out: dict[str, Any] = {}
    conflicts = []
    for key in sorted(config, key=lambda k: k.count(".")):
        *path, last = key.split(".")
        target = out
        for part in path:
            if target.get(part) is None:
                target[part] = {}
            target = target[part]
            if not isinstance(target, dict):
                conflicts.append(key)
                break
        else:
            value = config[key]
            if value is None and last in target:
                del target[last]
            else:
                target[last] = nest(value) if isinstance(value, dict) else copy.deepcopy(value)
    if conflicts:
        raise ValueError("conflicting keys: " + ", ".join(conflicts))
    return out


def _child(spec: Spec | None, key: str) -> Spec | None:
    if isinstance(spec, Obj):
        return spec.fields.get(key)
    if isinstance(spec, Record):
        return spec.value
    return None


def _fill(value: Any, default: Any, spec: Spec | None) -> Any:
    """`value` with the defaults filled in under it. null means "the default" for a field, and "gone" for a record
    entry (so a default role can be removed); a record entry that is given replaces the default entry whole."""
    if not isinstance(value, dict):
        return copy.deepcopy(value)
    if isinstance(spec, Record):
        out = {k: _fill(v, None, spec.value) for k, v in value.items() if v is not None}
        extra = {k: d for k, d in default.items() if k not in value} if isinstance(default, dict) else {}
    else:
        out = {k: _fill(v, default.get(k) if isinstance(default, dict) else None, _child(spec, k))
               for k, v in value.items() if v is not None}
        extra = {k: d for k, d in default.items() if k not in out} if isinstance(default, dict) else {}
    out.update(copy.deepcopy(extra))
    return out


def render(*overrides: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full config: the overrides (lowest level first) merged with `override()`, then applied over the defaults
    (`base`) shallowest key first. A dotted key into an entry that does not exist is dropped, like the platform."""
    base = DEFAULTS if base is None else base
    merged: dict[str, Any] = {}
    for level in overrides:
        merged = override(merged, level or {})
    tree = copy.deepcopy(base)
    for key in sorted(merged, key=lambda k: k.count(".")):
        *path, last = key.split(".")
        parent, spec, default = tree, SCHEMA, base
        for part in path:
            parent = parent.get(part) if isinstance(parent, dict) else None
            spec, default = _child(spec, part), default.get(part) if isinstance(default, dict) else None
        if not isinstance(parent, dict):
            continue
        sub_default = None if isinstance(spec, Record) or not isinstance(default, dict) else default.get(last)
        value = merged[key]
        if value is None and sub_default is None:
            parent.pop(last, None)
        else:
            parent[last] = _fill(value if value is not None else sub_default, sub_default, _child(spec, last))
    return _sanitize(tree)


def _sanitize(config: dict[str, Any]) -> dict[str, Any]:
    """What the platform does to a rendered config: OAuth providers without a type are left out, sign-up rules are
    ordered by priority (highest first), then id."""
    oauth = config.get("auth", {}).get("oauth", {})
    if isinstance(oauth.get("providers"), dict):
        oauth["providers"] = {k: p for k, p in oauth["providers"].items() if isinstance(p, dict) and p.get("type")}
    rules = config.get("auth", {}).get("signUpRules")
    if isinstance(rules, dict):
        config["auth"]["signUpRules"] = dict(sorted(
            rules.items(), key=lambda kv: (-(kv[1].get("priority") or 0) if isinstance(kv[1], dict) else 0, kv[0])))
    return config


# ---- config files -------------------------------------------------------------------------------------------------

# The names a config file may have when a client asks to load one (internal/local-emulator/project): the
# emulator's own Python files, and the platform's TypeScript / JavaScript ones (run with node).
CONFIG_FILE_NAMES = tuple(f"{stem}.config.{ext}" for ext in ("py", "ts", "js", "mts", "mjs")
                          for stem in ("hexclave", "stack"))

class ConfigFileError(Exception):
    """A config file that cannot be used: names the file, the line when known, and why."""

    def __init__(self, path: Path, line: int | None, reason: str):
        self.path, self.line, self.reason = path, line, reason
        super().__init__(f"{path}{f':{line}' if line else ''}: {reason}")


def load_timeout() -> float:
    from emulator.settings import env
    return float(env("CONFIG_LOAD_TIMEOUT", "10"))


def load_file(path: Path) -> dict[str, Any]:
    """Run a config file (hexclave.config.py with Python; .ts / .js with node) in a child process, with a time
    limit, and return its validated `config`. Blocks: async code calls it through asyncio.to_thread, as
    ConfigFile.refresh does."""
    try:
        if config_node.is_node_config(path):
            # An empty TypeScript file is an empty config, as the platform reads it.
            config = {} if is_blank(path) else config_node.run(path, load_timeout())
            if isinstance(config, dict):
                config = nest(config)  # the platform's files may use dotted keys ("teams.allowClientTeamCreation")
        else:
            config = config_process.run(path, load_timeout())
    except config_process.ConfigRunError as exc:
        raise ConfigFileError(path, exc.line, exc.reason) from None
    except ValueError as exc:  # dotted keys that contradict each other
        raise ConfigFileError(path, None, f"invalid config: {exc}") from None
    try:
        return validate(config)
    except ConfigInvalid as exc:
        raise ConfigFileError(path, None, "invalid config: " + "; ".join(exc.problems)) from None


def is_blank(path: Path) -> bool:
    try:
        return not path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return False  # the loader reports why it cannot read the file


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


@dataclass
class ConfigFile:
    """One hexclave.config.py, its last good config and the reason the current content is rejected, if it is."""
    path: Path
    override: dict[str, Any]
    rendered: dict[str, Any]
    stamp: tuple[int, int] | None
    error: ConfigFileError | None = None
    # Registered by a client through /internal/local-emulator/project: the platform's "local emulator project".
    registered: bool = False
    lock: asyncio.Lock = field(default_factory=asyncio.Lock, repr=False)  # one load (or write-back) at a time

    @classmethod
    def open(cls, path: Path) -> "ConfigFile":
        """Load at start-up: here a broken file is fatal, since there is no last good config to keep."""
        path = path.resolve()
        stamp = _stamp(path)
        override = load_file(path)
        return cls(path, override, render(override), stamp)

    def take(self, override: dict[str, Any], stamp: tuple[int, int] | None) -> None:
        self.override, self.rendered, self.stamp, self.error = override, render(override), stamp, None

    async def refresh(self) -> bool:
        """Reload if the file changed since the last look. Returns True when a new config took effect. A file that
        fails (raises, exits, runs too long, is invalid) is logged with its line and reason; the last good config
        stays in effect."""
        async with self.lock:
            stamp = _stamp(self.path)
            if stamp == self.stamp:
                return False
            self.stamp = stamp
            try:
                override = await asyncio.to_thread(load_file, self.path)
            except ConfigFileError as exc:
                self.error = exc
                log.error("config error, keeping the last good config: %s", exc)
                return False
            if self.error:
                log.warning("config fixed: %s loads again", self.path)
            self.take(override, stamp)
            log.info("config reloaded from %s", self.path)
            return True

    async def watch(self) -> None:
        """Reload as soon as the file is saved, so a broken edit is reported without waiting for a request. Only
        the file itself is watched (a log file next to it must not wake the emulator), and the watch is set up
        again after every change, since editors (and write-back) save by renaming a new file over the old one."""
        from watchfiles import awatch

        logging.getLogger("watchfiles").setLevel(logging.WARNING)  # not a log line per change
        while True:
            try:
                async with contextlib.aclosing(awatch(self.path, debounce=50, step=20)) as changes:
                    async for _ in changes:
                        break
            except FileNotFoundError:  # mid-save, or deleted: look again shortly
                await asyncio.sleep(0.5)
            await self.refresh()
