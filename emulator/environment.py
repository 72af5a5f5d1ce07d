"""The environment variables an app needs to talk to the emulator: what the banner prints, `exec` injects,
`env` prints and the pytest plugin's projects carry. Kept free of heavy imports (the pytest plugin uses it)."""
from __future__ import annotations

import json
import shlex


def app_environment(api_url: str, project_id: str, publishable_client_key: str, secret_server_key: str,
                    super_secret_admin_key: str | None) -> dict[str, str]:
    """HEXCLAVE_* and legacy STACK_* names; public values also as NEXT_PUBLIC_* and VITE_* for browser bundles."""
    public = {"PROJECT_ID": project_id, "PUBLISHABLE_CLIENT_KEY": publishable_client_key, "API_URL": api_url}
    secret = {"SECRET_SERVER_KEY": secret_server_key, "SUPER_SECRET_ADMIN_KEY": super_secret_admin_key}
    values: dict[str, str] = {}
    for prefix in ("HEXCLAVE", "STACK"):
        for name, value in public.items():
            for bundler in ("", "NEXT_PUBLIC_", "VITE_"):
                values[f"{bundler}{prefix}_{name}"] = value
        values.update({f"{prefix}_{name}": value for name, value in secret.items() if value})
    return values


def emulator_environment(url: str, smtp_host: str, smtp_port: int) -> dict[str, str]:
    """Where the emulator itself is: its HTTP base URL and the SMTP port that catches the app's mail."""
    return {"HEXCLAVE_EMULATOR_URL": url, "HEXCLAVE_EMULATOR_SMTP_HOST": smtp_host,
            "HEXCLAVE_EMULATOR_SMTP_PORT": str(smtp_port)}


FORMATS = ("dotenv", "json", "shell")


def render(values: dict[str, str], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(values, indent=2)
    if fmt == "shell":
        return "\n".join(f"export {name}={shlex.quote(value)}" for name, value in values.items())
    return "\n".join(f"{name}={value}" for name, value in values.items())
