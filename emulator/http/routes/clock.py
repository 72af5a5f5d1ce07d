"""The emulator clock API: read it, move it forward. No project keys needed (like the inbox API)."""
from __future__ import annotations

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from emulator import clock, json_input
from emulator.http.responses import json_response, text_response
from emulator.settings import parse_duration
from emulator.store.models import Meta

OFFSET_KEY = "clock_offset_seconds"
MAX_OFFSET_SECONDS = 1000 * 366 * 86400  # dates stay far inside what datetime and the SDKs handle


async def load_offset(db) -> None:
    """Start-up: continue from the offset the data file remembers."""
    row = (await db.execute(select(Meta).where(Meta.key == OFFSET_KEY))).scalar_one_or_none()
    clock.set_offset(float(row.value) if row else 0.0)


async def save_offset(db) -> None:
    """Remember the current offset in the data file (after an advance, or after a snapshot brought an older one)."""
    row = (await db.execute(select(Meta).where(Meta.key == OFFSET_KEY))).scalar_one_or_none()
    if row is None:
        db.add(Meta(key=OFFSET_KEY, value=str(clock.offset_seconds())))
    else:
        row.value = str(clock.offset_seconds())


def _reading() -> dict:
    return {"now_millis": clock.now_millis(), "now": clock.now().isoformat().replace("+00:00", "Z"),
            "offset_millis": int(clock.offset_seconds() * 1000)}


async def read_clock(request: Request) -> Response:
    return json_response(_reading())


async def advance_clock(request: Request) -> Response:
    """Body `{"seconds": 86400}` or `{"duration": "30d"}` (ms, s, min, h, d). Time only moves forward."""
    try:
        body = json_input.loads(await request.body())
        if not isinstance(body, dict) or len(body.keys() & {"seconds", "duration"}) != 1:
            raise ValueError('send exactly one of "seconds" (a number) or "duration" (e.g. "30d", "12h")')
        seconds = body.get("seconds")
        if seconds is None:
            seconds = parse_duration(str(body["duration"]))
        elif isinstance(seconds, bool) or not isinstance(seconds, (int, float)):
            raise ValueError('"seconds" must be a number')
        if seconds < 0:
            raise ValueError("the emulator clock only moves forward")
        if not seconds <= MAX_OFFSET_SECONDS - clock.offset_seconds():  # also refuses NaN and infinity
            raise ValueError("the emulator clock goes at most 1000 years ahead of real time")
    except ValueError as exc:
        return text_response(f"Cannot advance the clock: {exc}", 400)
    state = request.app.state.emu
    async with state.db.session() as db:
        clock.set_offset(clock.offset_seconds() + seconds)
        await save_offset(db)
        await db.commit()
    await clock.run_after_advance(state)
    return json_response(_reading())


routes = [Route("/emulator/clock", read_clock, methods=["GET"]),
          Route("/emulator/clock/advance", advance_clock, methods=["POST"])]
