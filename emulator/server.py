"""Start-up: open the store, bind the config file's project, serve HTTP, watch the config, print the banner."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator import __version__
from emulator.domain import config as config_mod
from emulator.domain import project_admin, projects
from emulator.domain.mail import MailBus
from emulator.domain.sessions import TokenSigner
from emulator.http.routes.clock import load_offset as load_clock_offset
from emulator.settings import Settings
from emulator.store.engine import Database, SchemaTooNew, make_engine, prepare_schema
from emulator.store.models import Meta

log = logging.getLogger("hexclave")

EMBEDDED_DEFAULT_CONFIG = Path(__file__).parent / "default_config.py"


@dataclass
class State:
    """Everything request handling shares, reached as request.app.state.emu."""
    settings: Settings
    db: Database
    signer: TokenSigner
    projects: projects.ProjectDirectory
    mail: MailBus = field(default_factory=MailBus)


def find_config(explicit: Path | None) -> Path:
    """--config, else ./hexclave.config.py, else the repository's fixture, else the embedded defaults."""
    if explicit is not None:
        return explicit
    for candidate in (Path("hexclave.config.py"), Path("fixtures/hexclave.config.py")):
        if candidate.is_file():
            return candidate
    return EMBEDDED_DEFAULT_CONFIG


async def _server_secret(db: AsyncSession, settings: Settings) -> str:
    """The token-signing secret: from the environment, else created once and kept in the data file."""
    if settings.server_secret:
        return settings.server_secret
    row = (await db.execute(select(Meta).where(Meta.key == "server_secret"))).scalar_one_or_none()
    if row is None:
        row = Meta(key="server_secret", value=secrets.token_urlsafe(32))
        db.add(row)
    return row.value


def banner(settings: Settings, config_path: Path, project, keys, seconds: float) -> str:
    api_url = settings.base_url
    values = {"PROJECT_ID": project.id, "PUBLISHABLE_CLIENT_KEY": keys.publishable_client_key, "API_URL": api_url}
    lines = [
        f"hexclave-emulator {__version__} ready in {seconds:.2f}s",
        f"  API:      {api_url}/api/v1",
        f"  SMTP:     {settings.host}:{settings.smtp_port}",
        f"  Inbox:    {api_url}/inbox",
        *([f"  OAuth:    http://{settings.host}:{settings.mock_oauth_port} (mock OAuth server)"]
          if settings.mock_oauth_port else []),
        f"  Store:    {'in memory' if settings.in_memory else settings.data_dir / 'emulator.sqlite3'}",
        f"  Config:   {config_path}",
        f"  Project:  {project.id} ({project.display_name})",
        f"  Internal project keys: {projects.INTERNAL_PUBLISHABLE_CLIENT_KEY} / {projects.INTERNAL_SECRET_SERVER_KEY}",
        "",
        "Environment for your app:",
    ]
    for prefix in ("HEXCLAVE", "STACK"):
        for name, value in values.items():
            lines.append(f"{prefix}_{name}={value}")
            if name != "SECRET_SERVER_KEY":
                lines += [f"NEXT_PUBLIC_{prefix}_{name}={value}", f"VITE_{prefix}_{name}={value}"]
        lines.append(f"{prefix}_SECRET_SERVER_KEY={keys.secret_server_key}")
    lines += ["", "Press Ctrl+C to stop."]
    return "\n".join(lines)


async def serve(settings: Settings) -> None:
    started = time.perf_counter()
    config_path = find_config(settings.config_path).resolve()
    config_file = config_mod.ConfigFile.open(config_path)  # a broken file at start-up is fatal: nothing to fall back on

    async with contextlib.AsyncExitStack() as running:  # everything started is stopped in reverse order, also on error
        engine = make_engine(settings.database_url)
        running.push_async_callback(engine.dispose)  # its connection thread would otherwise keep the process alive
        await prepare_schema(engine)
        database = Database(engine)
        async with database.session() as db:
            await projects.ensure_internal_project(db)
            project, keys = await projects.project_for_config_file(db, config_path)
            secret = await _server_secret(db, settings)
            await load_clock_offset(db)
            await db.commit()

        directory = projects.ProjectDirectory()
        directory.bind(project.id, config_file)
        async with database.session() as db:
            await project_admin.ensure_local_emulator_owner(db, directory, settings.bcrypt_rounds)
            await db.commit()
        state = State(settings, database, TokenSigner(secret, settings.base_url, settings.access_token_seconds),
                      directory, MailBus())

        from emulator.http.app import create_app

        app = create_app(state)
        server = uvicorn.Server(uvicorn.Config(app, host=settings.host, port=settings.port, log_level="warning",
                                               access_log=False, lifespan="off", timeout_graceful_shutdown=2,
                                               server_header=False))
        background = [asyncio.create_task(config_file.watch()), asyncio.create_task(deliver_scheduled_emails(state)),
                      asyncio.create_task(renew_subscriptions(state))]
        running.push_async_callback(cancel_quietly, *background)
        serving = asyncio.create_task(server.serve(sockets=[listen_socket(settings.host, settings.port, "HTTP")]))

        async def stop_serving() -> None:
            server.should_exit = True
            with contextlib.suppress(BaseException):  # uvicorn exits its task with SystemExit when it cannot bind
                await serving

        running.push_async_callback(stop_serving)
        while not server.started:
            if serving.done():
                raise SystemExit(f"could not serve on {settings.host}:{settings.port}")
            await asyncio.sleep(0.005)
        from emulator.warm_up import warm_up

        warming = asyncio.create_task(warm_up(state, project.id))
        running.push_async_callback(cancel_quietly, warming)
        from emulator.mail.smtp import start_smtp

        try:
            smtp = await start_smtp(settings.host, settings.smtp_port, database, state.mail)
        except OSError as exc:
            raise SystemExit(f"could not serve SMTP on {settings.host}:{settings.smtp_port}: {exc.strerror or exc}")
        running.callback(smtp.close)
        if settings.mock_oauth_port:
            from emulator.http.mock_oauth_server import MockOAuthServer

            mock_oauth = MockOAuthServer(state)
            running.push_async_callback(mock_oauth.stop)
            await mock_oauth.start(listen_socket(settings.host, settings.mock_oauth_port, "the mock OAuth server"))
        await warming  # runs while SMTP starts; done before the banner says the emulator is ready
        print(banner(settings, config_path, project, keys, time.perf_counter() - started), flush=True)
        await serving


def listen_socket(host: str, port: int, what: str) -> socket.socket:
    """Bound here rather than by uvicorn, whose bind failure exits the whole process from inside its task."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise SystemExit(f"could not serve {what} on {host}:{port}: {exc.strerror or exc}")


async def deliver_scheduled_emails(state: State) -> None:
    """Background delivery: send-email calls with a future scheduled_at_millis go out when due."""
    from emulator.domain import outbox

    while True:
        await asyncio.sleep(0.5)
        try:
            async with state.db.session() as db:
                if await outbox.deliver_due(db, state.mail, state.projects.view):
                    await db.commit()
        except Exception:
            log.exception("scheduled email delivery failed; retrying")


async def renew_subscriptions(state: State) -> None:
    """Background renewals: subscription periods (and trials) that end while the emulator runs renew in real time."""
    from emulator.domain.payments import subscriptions

    while True:
        await asyncio.sleep(1)
        try:
            await subscriptions.materialise(state)
        except Exception:
            log.exception("subscription renewal failed; retrying")


async def cancel_quietly(*tasks: asyncio.Task) -> None:
    for task in tasks:
        task.cancel()
        try:
            await task
        except (asyncio.CancelledError, Exception):
            pass


def run(settings: Settings) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    try:
        try:
            import uvloop  # faster event loop where available (not on Windows)
        except ImportError:
            asyncio.run(serve(settings))
        else:
            uvloop.run(serve(settings))
    except config_mod.ConfigFileError as exc:
        raise SystemExit(f"config error: {exc}")
    except SchemaTooNew as exc:
        raise SystemExit(f"data file error: {exc}")
    except KeyboardInterrupt:
        pass
