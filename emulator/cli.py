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
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path(".hexclave"),
              show_default=True, help="Where the SQLite data file lives.")
@click.option("--in-memory", is_flag=True, help="Keep all data in memory; nothing is written to disk.")
def start(config_path: Path | None, port: int, smtp_port: int, host: str, data_dir: Path, in_memory: bool) -> None:
    """Start the emulator."""
    from emulator.server import run

    run(Settings.from_env(host=host, port=port, smtp_port=smtp_port, data_dir=data_dir, in_memory=in_memory,
                          config_path=config_path))
