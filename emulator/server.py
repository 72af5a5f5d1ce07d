"""Start-up: open the store, bind the config file's project, serve HTTP, watch the config, print the banner."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator import __version__, environment
from emulator.domain.projects import config as config_mod
from emulator.domain.projects import project_admin, projects
from emulator.domain.webhooks import webhooks
from emulator.domain.mail import emails
from emulator.domain.mail.mail import MailBus
from emulator.domain.auth.sessions import TokenSigner
from emulator.domain.webhooks.webhook_delivery import Dispatcher
from emulator.http.request_log import RequestLog
from emulator.http.routes.clock import load_offset as load_clock_offset
from emulator.launch import EMBEDDED_DEFAULT_CONFIG, find_config  # noqa: F401 -- also reached as server.find_config
from emulator.settings import Settings, env
from emulator.store import snapshots
from emulator.store.engine import Database, SchemaTooNew, make_engine, prepare_schema
from emulator.store.models import Meta

log = logging.getLogger("hexclave")


@dataclass
class State:
    """Everything request handling shares, reached as request.app.state.emu."""
    settings: Settings
    db: Database
    signer: TokenSigner
    projects: projects.ProjectDirectory
    mail: MailBus = field(default_factory=MailBus)
    webhooks: "Dispatcher | None" = None  # webhook delivery (emulator.domain.webhooks.webhook_delivery)
    config_project_id: str = ""  # the project of the config file served
    snapshots: snapshots.Snapshots | None = None
    environment: dict[str, str] = field(default_factory=dict)  # what `env` prints and `exec` injects
    started_at: float = 0.0  # time.monotonic() when ready
    request_log: RequestLog = field(default_factory=RequestLog)


async def _webhook_secret(db: AsyncSession) -> str:
    """The secret of webhook endpoints declared in the config: HEXCLAVE_WEBHOOK_SECRET, else kept in the data file."""
    from emulator.domain.webhooks import webhooks

    given = env("WEBHOOK_SECRET")
    if given:
        if not webhooks.is_valid_secret(given):
            raise SystemExit("HEXCLAVE_WEBHOOK_SECRET must be whsec_ followed by base64 of 24 to 75 bytes")
        return given
    row = (await db.execute(select(Meta).where(Meta.key == "webhook_secret"))).scalar_one_or_none()
    if row is None:
        row = Meta(key="webhook_secret", value=webhooks.new_secret())
        db.add(row)
    return row.value


async def _server_secret(db: AsyncSession, settings: Settings) -> str:
    """The token-signing secret: from the environment, else created once and kept in the data file."""
    if settings.server_secret:
        return settings.server_secret
    row = (await db.execute(select(Meta).where(Meta.key == "server_secret"))).scalar_one_or_none()
    if row is None:
        row = Meta(key="server_secret", value=secrets.token_urlsafe(32))
        db.add(row)
    return row.value


def banner(state: "State", config_path: Path, project, seconds: float) -> str:
    settings = state.settings
    lines = [
        f"hexclave-emulator {__version__} ready in {seconds:.2f}s",
        f"  API:      {settings.base_url}/api/v1",
        f"  SMTP:     {state.environment['HEXCLAVE_EMULATOR_SMTP_HOST']}:{settings.smtp_port} (plain SMTP, no STARTTLS)",
        f"  Admin:    {settings.base_url}/ (dashboard: users, teams, config, payments)",
        f"  Inbox:    {settings.base_url}/inbox",
        f"  Requests: {settings.base_url}/requests",
        *([f"  OAuth:    http://{settings.host}:{settings.mock_oauth_port} (mock OAuth server)"]
          if settings.mock_oauth_port else []),
        f"  Webhooks: {settings.base_url}/webhooks (Svix API: "
        f"{f'http://{settings.host}:{settings.svix_port}' if settings.svix_port else settings.base_url}/api/v1/app)",
        f"  Store:    {'in memory' if settings.in_memory else settings.data_dir / 'emulator.sqlite3'}",
        f"  Config:   {config_path}",
        f"  Project:  {project.id} ({project.display_name})",
        f"  Internal project keys: {projects.INTERNAL_PUBLISHABLE_CLIENT_KEY} / {projects.INTERNAL_SECRET_SERVER_KEY}",
        "",
        "Environment for your app (also: hexclave-emulator env):",
        *(f"{name}={value}" for name, value in state.environment.items()),
        "",
        "Press Ctrl+C to stop.",
    ]
    return "\n".join(lines)


async def serve(settings: Settings, *, ready: Callable[["State"], None] | None = None,
                stop: asyncio.Event | None = None, config_load: Future | None = None) -> None:
    """Run until stopped (Ctrl+C, or `stop` set). `ready` is called once every port answers; by default the banner
    is printed then. `config_load`: the config file already loading (emulator.launch.load_config_early)."""
    started = time.perf_counter()
    config_path = find_config(settings.config_path).resolve()
    # a broken file at start-up is fatal: nothing to fall back on
    config_file = (await asyncio.wrap_future(config_load) if config_load is not None
                   else config_mod.ConfigFile.open(config_path))

    async with contextlib.AsyncExitStack() as running:  # everything started is stopped in reverse order, also on error
        engine = make_engine(settings.database_url)
        running.push_async_callback(engine.dispose)  # its connection thread would otherwise keep the process alive
        database = Database(engine)
        if settings.import_path:
            await snapshots.import_file(database, settings.import_path)
        await prepare_schema(engine)
        if settings.export_on_exit:
            running.push_async_callback(snapshots.export_file, database, settings.export_on_exit)
        async with database.session() as db:
            await projects.ensure_internal_project(db)
            project, keys = await projects.project_for_config_file(db, config_path)
            project.display_name = config_file.rendered["project"].get("displayName") or project.display_name
            secret = await _server_secret(db, settings)
            webhooks.config_endpoint_secret = await _webhook_secret(db)
            await load_clock_offset(db)
            await db.commit()

        directory = projects.ProjectDirectory()
        directory.bind(project.id, config_file)
        async with database.session() as db:
            await project_admin.ensure_local_emulator_owner(db, directory, settings.bcrypt_rounds)
            await db.commit()
        http_socket = listen_socket(settings.host, settings.port, "HTTP")
        settings.port = http_socket.getsockname()[1]  # the port chosen when 0 was asked for
        state = State(settings, database, TokenSigner(secret, settings.base_url, settings.access_token_seconds),
                      directory, MailBus(), Dispatcher(database), config_project_id=project.id,
                      snapshots=snapshots.Snapshots(None if settings.in_memory else settings.data_dir / "snapshots"),
                      request_log=RequestLog(settings.log_requests))
        running.push_async_callback(state.webhooks.close)
        await state.webhooks.resume()

        from emulator.http.app import create_app

        background = [asyncio.create_task(config_file.watch()), asyncio.create_task(deliver_scheduled_emails(state)),
                      asyncio.create_task(renew_subscriptions(state)), asyncio.create_task(state.webhooks.run())]
        running.push_async_callback(cancel_quietly, *background)
        serving = await serve_app(create_app(state), http_socket, running, f"on {settings.host}:{settings.port}",
                                  main=True)
        from emulator.warm_up import warm_up

        warming = asyncio.create_task(warm_up(state, project.id))
        running.push_async_callback(cancel_quietly, warming)
        from emulator.mail.smtp import start_smtp

        try:
            smtp = await start_smtp(settings.host, settings.smtp_port, database, state.mail)
        except OSError as exc:
            raise SystemExit(f"could not serve SMTP on {settings.host}:{settings.smtp_port}: {exc.strerror or exc}")
        running.callback(smtp.close)
        settings.smtp_port = smtp.sockets[0].getsockname()[1]
        await emails.resume_relays(database, state.mail, state.projects.view)  # relays need the SMTP address set
        if settings.mock_oauth_port:
            from emulator.http.mock_oauth_server import MockOAuthServer

            mock_oauth = MockOAuthServer(state)
            running.push_async_callback(mock_oauth.stop)
            await mock_oauth.start(listen_socket(settings.host, settings.mock_oauth_port, "the mock OAuth server"))
        if settings.svix_port:  # the Svix-compatible API on a port of its own
            from emulator.http.routes.svix import create_svix_app

            await serve_app(create_svix_app(state), listen_socket(settings.host, settings.svix_port, "the Svix API"),
                            running, f"the Svix API on {settings.host}:{settings.svix_port}")
        smtp_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        state.environment = {
            **environment.emulator_environment(settings.base_url, smtp_host, settings.smtp_port),
            **environment.app_environment(settings.base_url, project.id, keys.publishable_client_key,
                                          keys.secret_server_key, keys.super_secret_admin_key),
            # signs the deliveries to endpoints declared in hexclave.config.py (emulatorWebhookEndpoints)
            "HEXCLAVE_WEBHOOK_SECRET": webhooks.config_endpoint_secret,
            "STACK_WEBHOOK_SECRET": webhooks.config_endpoint_secret}
        await warming  # runs while SMTP starts; done before the banner says the emulator is ready
        state.started_at = time.monotonic()
        if ready is None:
            print(banner(state, config_path, project, time.perf_counter() - started), flush=True)
        else:
            ready(state)
        if stop is None:
            await serving
        else:
            await asyncio.wait([serving, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED)


class _Server(uvicorn.Server):
    """uvicorn's server, except that Ctrl+C and SIGTERM only ask it to stop (uvicorn re-raises them when it is
    done, which would end the process before the emulator's own clean-up, such as --export-on-exit, runs)."""

    @contextlib.contextmanager
    def capture_signals(self):
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


class _SecondaryServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):
        yield  # the main server handles Ctrl+C / SIGTERM; `running` stops this one


async def serve_app(app, sock: socket.socket, running: contextlib.AsyncExitStack, where: str, *,
                    main: bool = False) -> asyncio.Task:
    """Serve an ASGI app with uvicorn on a bound socket until `running` closes; returns once it serves. Only the
    main server handles Ctrl+C and SIGTERM; the others stop with it."""
    server = (_Server if main else _SecondaryServer)(uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="off", timeout_graceful_shutdown=2, server_header=False))
    serving = asyncio.create_task(server.serve(sockets=[sock]))

    async def stop_serving() -> None:
        server.should_exit = True
        with contextlib.suppress(BaseException):  # uvicorn exits its task with SystemExit when it cannot bind
            await serving

    running.push_async_callback(stop_serving)
    while not server.started:
        if serving.done():
            raise SystemExit(f"could not serve {where}")
        await asyncio.sleep(0.005)
    return serving


def listen_socket(host: str, port: int, what: str) -> socket.socket:
    """Bound here rather than by uvicorn, whose bind failure exits the whole process from inside its task."""
    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise SystemExit(f"could not serve {what} on {host}:{port}: {exc.strerror or exc}")


async def deliver_scheduled_emails(state: State) -> None:
    """Background outbox worker: send-email's emails are rendered and sent here, each when due."""
    from emulator.domain.mail import outbox

    while True:
        await asyncio.sleep(0.5)
        try:
            await outbox.process(state.db, state.mail, state.projects.view, state.settings.base_url)
        except Exception:
            log.exception("the outbox worker failed; retrying")


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


def run_loop(main: Coroutine) -> None:
    """Run the emulator's event loop (uvloop where available); known start-up failures become one-line exits."""
    try:
        try:
            import uvloop  # faster event loop where available (not on Windows)
        except ImportError:
            asyncio.run(main)
        else:
            uvloop.run(main)
    except config_mod.ConfigFileError as exc:
        raise SystemExit(f"config error: {exc}")
    except SchemaTooNew as exc:
        raise SystemExit(f"data file error: {exc}")
    except snapshots.SnapshotError as exc:
        raise SystemExit(f"import error: {exc}")


def run(settings: Settings, *, config_load: Future | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # webhook deliveries would log every POST
    try:
        run_loop(serve(settings, config_load=config_load))
    except KeyboardInterrupt:
        pass
