"""The pytest plugin shipped with hexclave-emulator (entry point `hexclave`; disable with `-p no:hexclave`).

Fixtures:
  hexclave          (session) an emulator on free ports, in memory: .url, .api_url, .smtp_host, .smtp_port, .env,
                    .project (the config file's project), .inbox.wait(to=…, subject=…, timeout=…), .clock.advance(s),
                    .reset(), .new_project(), .snapshot(name), .restore(name)
  hexclave_project  (function) a fresh project with its own keys and the config file's config: .id,
                    .publishable_client_key, .secret_server_key, .super_secret_admin_key, .env, .inbox,
                    .api_url, .headers("client" | "server" | "admin")

Settings (pytest.ini `[pytest]` or pyproject.toml `[tool.pytest.ini_options]`): hexclave_config (path, relative to
the rootdir), hexclave_port and hexclave_smtp_port (default 0: free ports), hexclave_data_dir (default: in memory).
`--hexclave-config PATH` on the command line wins over hexclave_config.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

MAX_WAIT_PER_REQUEST = 60  # the wait API's own limit, in seconds


class Message(dict):
    """A caught message (the inbox API's shape); fields also read as attributes: message.code, message.links."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class EmulatorError(RuntimeError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class EmulatorClient:
    """JSON calls to the emulator's /api/v1/emulator API."""

    def __init__(self, url: str) -> None:
        self.url = url.rstrip("/")

    def call(self, method: str, path: str, body: dict | None = None, *, timeout: float = 30,
             query: dict | None = None) -> Any:
        target = f"{self.url}/api/v1/emulator{path}"
        if query:
            target += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(target, data=data, method=method,
                                         headers={"content-type": "application/json"} if data is not None else {})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            raise EmulatorError(exc.code, f"{method} {path}: {exc.code} {exc.read().decode(errors='replace')}") from None


class Inbox:
    """The caught mail, of one project or of everything."""

    def __init__(self, client: EmulatorClient, project_id: str | None, since_millis: int) -> None:
        self._client, self.project_id, self.since_millis = client, project_id, since_millis

    def wait(self, *, to: str | None = None, subject: str | None = None, timeout: float = 10,
             since_millis: int | None = None) -> Message:
        """The newest message matching `to` (exact address) and `subject` (a part of it) that came since this inbox
        was made (or `since_millis`, emulator time), waiting up to `timeout` seconds for it; TimeoutError after."""
        deadline = time.monotonic() + timeout
        query = {"to": to, "subject": subject, "project_id": self.project_id,
                 "since": self.since_millis if since_millis is None else since_millis}
        while True:
            left = max(0.0, deadline - time.monotonic())
            wait = min(left, MAX_WAIT_PER_REQUEST)
            try:
                return Message(self._client.call("GET", "/inbox/wait", query={**query, "timeout": f"{wait:.3f}"},
                                                 timeout=wait + 10))
            except EmulatorError as exc:
                if exc.status != 408:
                    raise
            if time.monotonic() >= deadline:
                wanted = ", ".join(f"{k}={v!r}" for k, v in (("to", to), ("subject", subject)) if v)
                raise TimeoutError(f"no mail ({wanted or 'any'}) in the hexclave-emulator inbox within {timeout:g} s")

    def messages(self, *, to: str | None = None) -> list[Message]:
        """What came so far (newest first)."""
        found = self._client.call("GET", "/inbox/messages", query={"to": to, "project_id": self.project_id})
        return [Message(m) for m in found["items"]]


class Clock:
    def __init__(self, client: EmulatorClient) -> None:
        self._client = client

    def now_millis(self) -> int:
        return self._client.call("GET", "/clock")["now_millis"]

    def advance(self, seconds: float) -> dict:
        """Move the emulator's clock forward (token and code expiry, trials, renewals); returns the new reading."""
        return self._client.call("POST", "/clock/advance", {"seconds": seconds})


@dataclass
class HexclaveProject:
    id: str
    display_name: str
    publishable_client_key: str
    secret_server_key: str
    super_secret_admin_key: str
    env: dict[str, str]
    inbox: Inbox = field(repr=False)

    @property
    def api_url(self) -> str:
        return self.env["HEXCLAVE_API_URL"] + "/api/v1"

    def headers(self, access_type: str = "client") -> dict[str, str]:
        """The request headers of one access type (client, server or admin) with this project's key."""
        key = {"client": ("publishable-client-key", self.publishable_client_key),
               "server": ("secret-server-key", self.secret_server_key),
               "admin": ("super-secret-admin-key", self.super_secret_admin_key)}[access_type]
        return {"x-stack-access-type": access_type, "x-stack-project-id": self.id, f"x-stack-{key[0]}": key[1]}


class Hexclave:
    """A running emulator (what the `hexclave` fixture gives)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.env = env  # the config file's project, as `hexclave-emulator exec` injects it
        self.url = env["HEXCLAVE_EMULATOR_URL"]
        self.api_url = self.url + "/api/v1"
        self.smtp_host = env["HEXCLAVE_EMULATOR_SMTP_HOST"]
        self.smtp_port = int(env["HEXCLAVE_EMULATOR_SMTP_PORT"])
        self._client = EmulatorClient(self.url)
        self.clock = Clock(self._client)
        self.inbox = Inbox(self._client, None, 0)
        self.project = HexclaveProject(env["HEXCLAVE_PROJECT_ID"], "", env["HEXCLAVE_PUBLISHABLE_CLIENT_KEY"],
                                       env["HEXCLAVE_SECRET_SERVER_KEY"], env["HEXCLAVE_SUPER_SECRET_ADMIN_KEY"], env,
                                       Inbox(self._client, env["HEXCLAVE_PROJECT_ID"], 0))

    def reset(self, project_id: str | None = None) -> None:
        """Delete users, teams, sessions, mail, purchases… of every project (or one); config-file projects stay."""
        self._client.call("POST", "/reset", {"project_id": project_id} if project_id else {})
        self.inbox.since_millis = self.project.inbox.since_millis = self.clock.now_millis()

    def new_project(self, display_name: str | None = None) -> HexclaveProject:
        """A fresh project with its own keys and the config file's config."""
        made = self._client.call("POST", "/projects", {"display_name": display_name} if display_name else {})
        return HexclaveProject(made["id"], made["display_name"], made["publishable_client_key"],
                               made["secret_server_key"], made["super_secret_admin_key"], made["env"],
                               Inbox(self._client, made["id"], made["created_at_millis"]))

    def delete_project(self, project_id: str) -> None:
        self._client.call("DELETE", f"/projects/{urllib.parse.quote(project_id, safe='')}")

    def snapshot(self, name: str) -> dict:
        return self._client.call("POST", "/snapshots", {"name": name})

    def restore(self, name: str) -> None:
        self._client.call("POST", f"/snapshots/{urllib.parse.quote(name, safe='')}/restore", {})


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("hexclave", "hexclave-emulator")
    group.addoption("--hexclave-config", metavar="PATH", help="hexclave.config.py served by the `hexclave` fixture.")
    parser.addini("hexclave_config", "hexclave.config.py served by the `hexclave` fixture (relative to the rootdir)")
    parser.addini("hexclave_port", "HTTP port of the `hexclave` fixture's emulator (0: a free port)", default="0")
    parser.addini("hexclave_smtp_port", "SMTP port of the `hexclave` fixture's emulator (0: a free port)", default="0")
    parser.addini("hexclave_data_dir", "data directory of the `hexclave` fixture's emulator (default: in memory)")


def _settings(config: pytest.Config):
    from emulator.settings import Settings, SettingsError

    def port(name: str) -> int:
        text = str(config.getini(name) or "0").strip()
        if not text.isdigit() or int(text) > 65535:
            raise SettingsError(f"{name} must be a port number (0 for a free one), got {text!r}")
        return int(text)

    config_path = config.getoption("hexclave_config") or config.getini("hexclave_config")
    data_dir = config.getini("hexclave_data_dir")
    return Settings.from_env(
        port=port("hexclave_port"), smtp_port=port("hexclave_smtp_port"),
        config_path=(config.rootpath / config_path) if config_path else None,
        in_memory=not data_dir, data_dir=(config.rootpath / data_dir) if data_dir else None)


@pytest.fixture(scope="session")
def hexclave(pytestconfig: pytest.Config):
    from emulator.embedded import EmbeddedEmulator

    from emulator.settings import SettingsError

    failure = None
    try:
        emulator = EmbeddedEmulator(_settings(pytestconfig)).start()
    except (SettingsError, SystemExit) as exc:  # a one-line reason: bad setting or config, port in use, …
        failure = f"hexclave-emulator could not start: {exc}"
    if failure:
        pytest.fail(failure, pytrace=False)
    try:
        yield Hexclave(emulator.environment)
    finally:
        emulator.stop()


@pytest.fixture
def hexclave_project(hexclave: Hexclave):
    project = hexclave.new_project()
    yield project
    hexclave.delete_project(project.id)
