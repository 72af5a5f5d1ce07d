"""Run-time settings: command-line options plus environment variables.

Every variable is read as HEXCLAVE_<NAME> first, then the legacy STACK_<NAME>.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path


def env(name: str, default: str | None = None) -> str | None:
    for prefix in ("HEXCLAVE_", "STACK_"):
        value = os.environ.get(prefix + name)
        if value not in (None, ""):
            return value
    return default


class SettingsError(ValueError):
    """A bad option or environment value: reported as one line naming it, never a traceback."""


def env_int(name: str, default: int, *, low: int = 0, high: int = 65535) -> int:
    """An integer environment variable, checked; the error names the variable the value came from."""
    for prefix in ("HEXCLAVE_", "STACK_"):
        text = os.environ.get(prefix + name)
        if text not in (None, ""):
            try:
                value = int(text)
            except ValueError:
                raise SettingsError(f"{prefix}{name} must be a whole number, got {text!r}") from None
            if not low <= value <= high:
                raise SettingsError(f"{prefix}{name} must be between {low} and {high}, got {value}")
            return value
    return default


def _env_name(name: str) -> str:
    """The variable a value was read from (HEXCLAVE_ wins over STACK_), for error messages."""
    return next((p + name for p in ("HEXCLAVE_", "STACK_") if os.environ.get(p + name)), "HEXCLAVE_" + name)


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|sec|m|min|h|d|w)?\s*$")
_UNIT_SECONDS = {None: 1, "s": 1, "sec": 1, "ms": 0.001, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """'600', '60s', '10min', '1h' -> seconds."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"not a duration: {text!r} (use seconds, or a number with ms/s/min/h/d/w)")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 26701
    smtp_port: int = 26725
    mock_oauth_port: int | None = None  # the optional second port mimicking the reference's mock OAuth server
    svix_port: int | None = None  # the optional port serving the Svix-compatible API alone
    data_dir: Path = Path(".hexclave")
    in_memory: bool = False
    config_path: Path | None = None
    access_token_seconds: float = 600
    bcrypt_rounds: int = 4
    server_secret: str | None = None
    public_url: str | None = None  # the address apps and browsers use, when not host:port (containers, tunnels)
    import_path: Path | None = None  # start from this exported file
    export_on_exit: Path | None = None  # write the store here when stopping
    log_requests: str | None = None  # None, "text" or "json": one line per API request on stdout
    # Where purchase URLs point (the platform points them at its dashboard); None: this emulator's own checkout.
    dashboard_url: str | None = None
    # Stripe webhook events must be signed with this (the platform's development default unless set).
    stripe_webhook_secret: str = "mock_stripe_webhook_secret"
    public_hosts: tuple[str, ...] = ()  # names besides loopback the emulator may be reached by (HEXCLAVE_PUBLIC_HOST)
    # Where uploaded images' URLs point, as the platform's S3 public endpoint; None: this emulator serves them.
    storage_url: str | None = None

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        return f"http://{'127.0.0.1' if self.host in ('0.0.0.0', '::', '') else self.host}:{self.port}"

    @property
    def public_storage_url(self) -> str:
        return (self.storage_url or f"{self.base_url}/api/v1/emulator/storage").rstrip("/")

    @property
    def database_url(self) -> str:
        if self.in_memory:
            return "sqlite+aiosqlite://"
        return f"sqlite+aiosqlite:///{self.data_dir / 'emulator.sqlite3'}"

    @classmethod
    def from_env(cls, **options) -> "Settings":
        s = cls(**{k: v for k, v in options.items() if v is not None})
        lifetime = env("ACCESS_TOKEN_EXPIRATION_TIME")
        if lifetime:
            try:
                s.access_token_seconds = parse_duration(lifetime)
            except ValueError as exc:
                raise SettingsError(f"{_env_name('ACCESS_TOKEN_EXPIRATION_TIME')}: {exc}") from None
        s.bcrypt_rounds = max(4, min(16, env_int("BCRYPT_ROUNDS", s.bcrypt_rounds, low=0, high=100)))
        s.server_secret = env("SERVER_SECRET")
        if s.public_url and not re.match(r"^https?://[^/\s]+(/\S*)?$", s.public_url):
            raise SettingsError(f"--public-url must be an http(s) URL like https://auth.example.test, "
                                f"got {s.public_url!r}")
        s.dashboard_url = s.dashboard_url or env("DASHBOARD_URL")
        s.stripe_webhook_secret = env("STRIPE_WEBHOOK_SECRET", s.stripe_webhook_secret)
        # The platform's S3 settings: the public endpoint, else the endpoint and bucket (path-style URLs).
        s.storage_url = env("S3_PUBLIC_ENDPOINT") or (env("S3_ENDPOINT") and env("S3_BUCKET")
                                                      and f"{env('S3_ENDPOINT').rstrip('/')}/{env('S3_BUCKET')}")
        s.public_hosts = tuple(h.strip() for h in (env("PUBLIC_HOST") or "").split(",") if h.strip())
        return s
