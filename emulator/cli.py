"""The `hexclave-emulator` command."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import click

from emulator import __version__
from emulator.settings import Settings, SettingsError, env, env_int


@click.group()
@click.version_option(__version__, prog_name="hexclave-emulator")
def main() -> None:
    """A one-process local emulator of Hexclave (formerly Stack Auth)."""


def _settings(**options) -> Settings:
    try:
        return Settings.from_env(**options)
    except SettingsError as exc:
        raise click.UsageError(str(exc))


def _port(name: str, default: int):
    """An option default read from HEXCLAVE_<name>; a bad value is a one-line error naming the variable."""
    def read() -> int:
        try:
            return env_int(name, default)
        except SettingsError as exc:
            raise click.UsageError(str(exc))
    return read


def server_options(*, for_exec: bool):
    """The options of `start`, shared by `exec` (which defaults to free ports and an in-memory store)."""
    port_default = "a free port" if for_exec else "26701"
    smtp_default = "a free port" if for_exec else "26725"
    options = [
        click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Config file to serve: hexclave.config.py, or a .ts / .js config run with node (default: "
                          "./hexclave.config.py, ./hexclave.config.ts, ./stack.config.ts, else "
                          "./fixtures/hexclave.config.py, else the built-in defaults)."),
        click.option("--port", type=click.IntRange(0, 65535), default=0 if for_exec else _port("EMULATOR_PORT", 26701),
                     show_default=port_default if for_exec else "26701, or HEXCLAVE_EMULATOR_PORT",
                     help="HTTP port: API, inbox, OAuth pages, checkout (0: a free port)."),
        click.option("--smtp-port", type=click.IntRange(0, 65535),
                     default=0 if for_exec else _port("EMULATOR_SMTP_PORT", 26725),
                     show_default=smtp_default if for_exec else "26725, or HEXCLAVE_EMULATOR_SMTP_PORT",
                     help="SMTP port that catches your app's mail (0: a free port)."),
        click.option("--mock-oauth-port", type=click.IntRange(1, 65535),
                     default=lambda: _port("EMULATOR_MOCK_OAUTH_PORT", 0)() or None,
                     help="Also serve a mock OAuth server like the reference's development one on this port "
                          "(off by default)."),
        click.option("--svix-port", type=click.IntRange(0, 65535),
                     default=lambda: _port("EMULATOR_SVIX_PORT", 0)() or None,
                     help="Also serve the Svix-compatible webhook API on this port (off by default, or 0; it is "
                          "always under /api/v1/app on the main port)."),
        click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind."),
        click.option("--dashboard-url", help="Base URL that purchase URLs point at, as the platform points them at "
                                              "its dashboard (default: this emulator's own checkout page). Env: "
                                              "HEXCLAVE_DASHBOARD_URL."),
        click.option("--public-url", default=lambda: env("EMULATOR_PUBLIC_URL"),
                     help="The URL apps and browsers reach the emulator at, when not http://HOST:PORT (containers, "
                          "tunnels); used in tokens, links and redirects. Env: HEXCLAVE_EMULATOR_PUBLIC_URL."),
        click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
                     default=None if for_exec else Path(".hexclave"),
                     show_default="in memory" if for_exec else ".hexclave",
                     help="Where the SQLite data file lives."),
        *([] if for_exec else [click.option("--in-memory", is_flag=True,
                                            help="Keep all data in memory; nothing is written to disk.")]),
        click.option("--import", "import_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                     help="Start from a file made by `hexclave-emulator export` or --export-on-exit."),
        click.option("--export-on-exit", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write the whole store to this file when the emulator stops."),
        click.option("--log-requests", is_flag=True, help="Print one line per API request."),
        click.option("--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="Format of --log-requests lines."),
    ]

    def decorate(command):
        for option in reversed(options):
            command = option(command)
        return command
    return decorate


def _build_settings(*, for_exec: bool, in_memory: bool = False, data_dir: Path | None, log_requests: bool,
                    log_format: str, **options) -> Settings:
    if for_exec:
        in_memory = data_dir is None
    return _settings(data_dir=data_dir, in_memory=in_memory, log_requests=log_format if log_requests else None,
                     **options)


@main.command()
@server_options(for_exec=False)
def start(**options) -> None:
    """Start the emulator."""
    from emulator import launch

    settings = _build_settings(for_exec=False, **options)
    launch.pause_garbage_collector()
    config_load = launch.load_config_early(settings.config_path)  # runs while the server's modules are imported
    from emulator.server import run

    run(settings, config_load=config_load)


@main.command("exec", context_settings={"allow_interspersed_args": False})
@server_options(for_exec=True)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(command: tuple[str, ...], **options) -> None:
    """Start the emulator (free ports, in memory unless --data-dir), run COMMAND with the app environment plus
    HEXCLAVE_EMULATOR_URL/_SMTP_HOST/_SMTP_PORT, stop, and exit with COMMAND's exit code.

    Example: hexclave-emulator exec -- npm test"""
    from emulator import launch
    from emulator.embedded import EmbeddedEmulator

    settings = _build_settings(for_exec=True, **options)
    launch.pause_garbage_collector()  # this process is the emulator's alone: the command runs in a child
    emulator = EmbeddedEmulator(settings, config_load=launch.load_config_early(settings.config_path))
    emulator.start()
    click.echo(f"hexclave-emulator {__version__} ready at {emulator.url}; running: {' '.join(command)}", err=True)
    try:
        code = _run_child(command, {**os.environ, **emulator.environment})
    finally:
        emulator.stop()
    sys.exit(code)


def _run_child(command: tuple[str, ...], environ: dict[str, str]) -> int:
    """Run the command, passing signals on; its exit code, or 128+N when a signal N ended it (as shells do)."""
    try:
        child = subprocess.Popen(list(command), env=environ)
    except OSError as exc:
        raise click.ClickException(f"cannot run {command[0]!r}: {exc.strerror or exc}")

    def forward(signum, _frame) -> None:
        # Ctrl+C in a terminal already reached the child (same foreground process group): do not send it twice.
        if signum == signal.SIGINT and _in_terminal_foreground():
            return
        child.send_signal(signum)

    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
    previous = {s: signal.signal(s, forward) for s in (getattr(signal, n) for n in names if hasattr(signal, n))}
    try:
        code = child.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 128 - code if code < 0 else code


def _in_terminal_foreground() -> bool:
    try:
        return os.tcgetpgrp(sys.stdin.fileno()) == os.getpgrp()
    except (OSError, AttributeError, ValueError):
        return False


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path), default=Path("hexclave.config.py"))
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
def init(path: Path, force: bool) -> None:
    """Write a commented hexclave.config.py (default: ./hexclave.config.py) and keep .hexclave/ out of git."""
    if path.exists() and not force:
        raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    path.write_text((Path(__file__).parent / "init_template.py").read_text())
    click.echo(f"wrote {path}; start with: hexclave-emulator start --config {path}")
    gitignore = path.parent / ".gitignore"
    if (path.parent / ".git").exists() or gitignore.exists():
        text = gitignore.read_text() if gitignore.exists() else ""
        if not {".hexclave", ".hexclave/", "/.hexclave", "/.hexclave/"} & {line.strip() for line in text.splitlines()}:
            separator = "\n" if text and not text.endswith("\n") else ""
            gitignore.write_text(text + separator + "# hexclave-emulator's data\n.hexclave/\n")
            click.echo(f"added .hexclave/ to {gitignore}")


# ---------------------------------------------------------------- commands talking to a running emulator

def _default_url() -> str:
    try:
        return env("EMULATOR_URL") or f"http://127.0.0.1:{env_int('EMULATOR_PORT', 26701)}"
    except SettingsError as exc:
        raise click.UsageError(str(exc))


def url_option(command):
    return click.option("--url", default=_default_url, show_default="HEXCLAVE_EMULATOR_URL, else "
                        "http://127.0.0.1:$HEXCLAVE_EMULATOR_PORT (26701)", help="The running emulator.")(command)


def call(url: str, path: str, body: dict | None = None, *, method: str | None = None, raw: bool = False):
    """One request to a running emulator's /api/v1/emulator API: the JSON answer (bytes with raw=True); a failure
    is a one-line error."""
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url.rstrip('/')}/api/v1/emulator{path}", data=data,
                                     headers={"content-type": "application/json"},
                                     method=method or ("POST" if data is not None else "GET"))
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            content = response.read()
    except urllib.error.HTTPError as exc:
        raise click.ClickException(exc.read().decode(errors="replace").strip() or f"HTTP {exc.code}")
    except OSError as exc:
        raise click.ClickException(f"no emulator answering at {url}: {getattr(exc, 'reason', exc)}")
    return content if raw else json.loads(content)


@main.command("env")
@url_option
@click.option("--format", "fmt", type=click.Choice(["dotenv", "json", "shell"]), default="dotenv",
              show_default=True, help="dotenv: NAME=value lines; shell: export lines for eval; json: an object.")
def env_command(url: str, fmt: str) -> None:
    """Print the environment for your app (what the banner shows and `exec` injects) of a running emulator.

    Example: eval "$(hexclave-emulator env --format shell)" """
    from emulator.environment import render

    click.echo(render(call(url, "/env"), fmt))


@main.command()
@url_option
@click.option("--project-id", help="Reset only this project (default: every project).")
def reset(url: str, project_id: str | None) -> None:
    """Delete users, teams, sessions, mail, purchases…; config-file projects keep their ids and keys."""
    call(url, "/reset", {"project_id": project_id} if project_id else {})
    click.echo("reset " + (f"project {project_id}" if project_id else "every project"))


@main.group()
def snapshot() -> None:
    """Save the whole state of a running emulator under a name, and go back to it."""


@snapshot.command("save")
@click.argument("name")
@url_option
def snapshot_save(name: str, url: str) -> None:
    """Copy the whole state under NAME (an existing snapshot of that name is replaced)."""
    info = call(url, "/snapshots", {"name": name})
    click.echo(f"saved snapshot {info['name']} ({info['size_bytes']} bytes)")


@snapshot.command("restore")
@click.argument("name")
@url_option
def snapshot_restore(name: str, url: str) -> None:
    """Go back to the state saved as NAME (the clock keeps its time)."""
    call(url, f"/snapshots/{name}/restore", {})
    click.echo(f"restored snapshot {name}")


@snapshot.command("list")
@url_option
def snapshot_list(url: str) -> None:
    """List the snapshots: name, when saved, size."""
    from datetime import datetime, timezone

    for item in call(url, "/snapshots")["items"]:
        saved = datetime.fromtimestamp(item["created_at_millis"] / 1000, timezone.utc).isoformat(timespec="seconds")
        click.echo(f"{item['name']}\t{saved}\t{item['size_bytes']} bytes")


@snapshot.command("delete")
@click.argument("name")
@url_option
def snapshot_delete(name: str, url: str) -> None:
    """Delete the snapshot NAME."""
    call(url, f"/snapshots/{name}", method="DELETE")
    click.echo(f"deleted snapshot {name}")


@main.command()
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@url_option
def export(path: Path, url: str) -> None:
    """Write the whole state of a running emulator to PATH (read back with `start --import PATH`)."""
    content = call(url, "/export", raw=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    click.echo(f"exported {len(content)} bytes to {path}")


@main.group()
def clock() -> None:
    """Read or move forward the clock of a running emulator (subscriptions, trials, token and code expiry)."""


def _show_clock(reading: dict) -> None:
    click.echo(f"emulator time: {reading['now']} (ahead of real time by {reading['offset_millis'] / 1000:g} s)")


@clock.command("show")
@url_option
def clock_show(url: str) -> None:
    """Print the emulator's current time."""
    _show_clock(call(url, "/clock"))


@clock.command("advance")
@click.argument("duration")
@url_option
def clock_advance(duration: str, url: str) -> None:
    """Move the clock forward by DURATION (e.g. 30d, 12h, 90min, 2w); renewals that fall due run at once."""
    _show_clock(call(url, "/clock/advance", {"duration": duration}))
