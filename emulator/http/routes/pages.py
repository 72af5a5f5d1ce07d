"""The emulator's own web pages: the inbox at /inbox, and their static files (the dashboard lives in dashboard.py)."""
from __future__ import annotations

from functools import lru_cache

from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from emulator import __version__, clock
from emulator.paths import STATIC_DIR, TEMPLATES_DIR

INBOX_API = "/api/v1/emulator/inbox"


@lru_cache(maxsize=1)
def templates():
    from jinja2 import Environment, FileSystemLoader, select_autoescape  # on first page view: keeps start-up short

    return Environment(loader=FileSystemLoader(str(TEMPLATES_DIR)),
                       autoescape=select_autoescape(default=True, default_for_string=True),
                       auto_reload=True, trim_blocks=True, lstrip_blocks=True)


def static_version() -> str:
    """Changes whenever a static file changes, so browsers never keep a stale script or stylesheet."""
    try:
        return format(max(int(p.stat().st_mtime) for p in STATIC_DIR.iterdir() if p.is_file()), "x")
    except ValueError:
        return __version__


def _smtp_address(request: Request) -> tuple[str, int]:
    settings = getattr(getattr(request.app.state, "emu", None), "settings", None)
    host = getattr(settings, "host", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return host, getattr(settings, "smtp_port", 26725)


async def inbox(request: Request):
    smtp_host, smtp_port = _smtp_address(request)
    page = templates().get_template("inbox.html").render(
        version=__version__,
        static_version=static_version(),
        smtp_host=smtp_host,
        smtp_port=smtp_port,
        api_url=str(request.base_url).rstrip("/") + "/api/v1",
        config={"api": INBOX_API, "smtpHost": smtp_host, "smtpPort": smtp_port,
                "clockApi": "/api/v1/emulator/clock", "clockOffsetMillis": int(clock.offset_seconds() * 1000)},
    )
    return HTMLResponse(page, headers={"cache-control": "no-cache"})


async def requests_page(request: Request):
    """The last API requests with their bodies and answers (GET /api/v1/emulator/requests)."""
    page = templates().get_template("requests.html").render(
        version=__version__, static_version=static_version(),
        api_url=str(request.base_url).rstrip("/") + "/api/v1", config={"api": "/api/v1/emulator"})
    return HTMLResponse(page, headers={"cache-control": "no-cache"})


routes: list = [
    Route("/inbox", inbox, methods=["GET"]),
    Route("/requests", requests_page, methods=["GET"]),
    Mount("/static", app=StaticFiles(directory=str(STATIC_DIR), check_dir=False), name="static"),
]
