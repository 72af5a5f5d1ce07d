"""The `hexclave-emulator` command."""
from __future__ import annotations

from pathlib import Path

import click

from emulator import __version__
from emulator.settings import Settings, env


@click.group()
@click.version_option(__version__, prog_name="hexclave-emulator")
def main() -> None:
    """A one-process local emulator of Hexclave (formerly Stack Auth)."""


@main.command()
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path),
              help="hexclave.config.py to serve (default: ./hexclave.config.py, else the built-in defaults).")
@click.option("--port", type=int, default=lambda: int(env("EMULATOR_PORT", "26701")), show_default="26701",
              help="HTTP port: API, inbox, OAuth pages, checkout.")
@click.option("--smtp-port", type=int, default=lambda: int(env("EMULATOR_SMTP_PORT", "26725")),
              show_default="26725", help="SMTP port that catches your app's mail.")
@click.option("--mock-oauth-port", type=int, default=lambda: int(env("EMULATOR_MOCK_OAUTH_PORT", "0")) or None,
              help="Also serve a mock OAuth server like the reference's development one on this port (off by default).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".hexclave"),
              show_default=True, help="Where the SQLite data file lives.")
@click.option("--in-memory", is_flag=True, help="Keep all data in memory; nothing is written to disk.")
@click.option("--dashboard-url", help="Base URL that purchase URLs point at, as the platform points them at its "
              "dashboard (default: this emulator's own checkout page).")
def start(config_path: Path | None, port: int, smtp_port: int, mock_oauth_port: int | None, host: str, data_dir: Path,
          in_memory: bool, dashboard_url: str | None) -> None:
    """Start the emulator."""
    from emulator.server import run

    run(Settings.from_env(host=host, port=port, smtp_port=smtp_port, mock_oauth_port=mock_oauth_port,
                          data_dir=data_dir, in_memory=in_memory, config_path=config_path,
                          dashboard_url=dashboard_url))


@main.group()
def clock() -> None:
    """Read or move forward the clock of a running emulator (subscriptions, trials, token and code expiry)."""


_URL_OPTION = click.option("--url", default=lambda: env("EMULATOR_URL", "http://127.0.0.1:26701"),
                           show_default="http://127.0.0.1:26701", help="The running emulator.")


def _clock_call(url: str, path: str, body: dict | None = None) -> None:
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{url.rstrip('/')}/api/v1/emulator/clock{path}", data=data,
                                     headers={"content-type": "application/json"}, method="POST" if data else "GET")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            reading = json.load(response)
    except urllib.error.HTTPError as exc:
        raise click.ClickException(exc.read().decode(errors="replace"))
    except OSError as exc:
        raise click.ClickException(f"no emulator answering at {url}: {exc}")
    click.echo(f"emulator time: {reading['now']} (ahead of real time by {reading['offset_millis'] / 1000:g} s)")


@clock.command("show")
@_URL_OPTION
def clock_show(url: str) -> None:
    """Print the emulator's current time."""
    _clock_call(url, "")


@clock.command("advance")
@click.argument("duration")
@_URL_OPTION
def clock_advance(duration: str, url: str) -> None:
    """Move the clock forward by DURATION (e.g. 30d, 12h, 90min, 2w); renewals that fall due run at once."""
    _clock_call(url, "/advance", {"duration": duration})
