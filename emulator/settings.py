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
    data_dir: Path = Path(".hexclave")
    in_memory: bool = False
    config_path: Path | None = None
    access_token_seconds: float = 600
    bcrypt_rounds: int = 4
    server_secret: str | None = None
    public_hosts: tuple[str, ...] = ()  # names besides loopback the emulator may be reached by (HEXCLAVE_PUBLIC_HOST)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

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
            s.access_token_seconds = parse_duration(lifetime)
        rounds = env("BCRYPT_ROUNDS")
        if rounds:
            s.bcrypt_rounds = max(4, min(16, int(rounds)))
        s.server_secret = env("SERVER_SECRET")
        s.public_hosts = tuple(h.strip() for h in (env("PUBLIC_HOST") or "").split(",") if h.strip())
        return s
