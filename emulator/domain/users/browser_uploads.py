"""What the SDK uploads from browsers when the analytics app is on: session replay batches (rrweb events) and
auto-captured analytics events ($page-view, $click). The emulator checks and keeps them so that tests can read
them back (GET /api/v1/emulator/session-replays and /emulator/analytics-events); querying them the platform's
way (ClickHouse, the dashboard's replay player) is out of scope.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from emulator.clock import now_millis
from emulator.domain.projects.projects import ProjectView
from emulator.errors import E, StatusError
from emulator.store.models import AnalyticsEvent, SessionReplay, SessionReplayChunk, User

MAX_REPLAY_BODY_BYTES = 1_000_000
MAX_REPLAY_EVENTS = 5_000
MAX_ANALYTICS_EVENTS = 500
# Batches of one refresh token join the same replay while they keep coming (the platform's windows).
REPLAY_IDLE_TIMEOUT_MILLIS = 3 * 60 * 1000
REPLAY_MAX_DURATION_MILLIS = 12 * 3600 * 1000


def _check_uploader(project: ProjectView, user: User | None, refresh_token_id: str | None, what: str) -> None:
    installed = project.config["apps"]["installed"].get("analytics") or {}
    if not installed.get("enabled"):
        raise E.analytics_not_enabled()
    if user is None:
        raise E.user_authentication_required()
    if refresh_token_id is None:
        raise StatusError(400, f"A refresh token is required for {what}")


async def _recent_replay(db: AsyncSession, project_id: str, refresh_token_id: str) -> SessionReplay | None:
    now = now_millis()
    return (await db.execute(select(SessionReplay).where(
        SessionReplay.project_id == project_id, SessionReplay.refresh_token_id == refresh_token_id,
        SessionReplay.updated_at_millis >= now - REPLAY_IDLE_TIMEOUT_MILLIS,
        SessionReplay.started_at_millis >= now - REPLAY_MAX_DURATION_MILLIS,
    ).order_by(SessionReplay.updated_at_millis.desc()).limit(1))).scalar_one_or_none()


def _event_time_span(events: list[Any], fallback: int) -> tuple[int, int]:
    stamps = [e["timestamp"] for e in events if isinstance(e, dict) and isinstance(e.get("timestamp"), (int, float))
              and not isinstance(e.get("timestamp"), bool)]
    return (int(min(stamps)), int(max(stamps))) if stamps else (fallback, fallback)


async def add_replay_batch(db: AsyncSession, project: ProjectView, user: User | None, refresh_token_id: str | None,
                           body: dict[str, Any], body_bytes: int) -> dict[str, Any]:
    _check_uploader(project, user, refresh_token_id, "session replays")
    if body_bytes > MAX_REPLAY_BODY_BYTES:
        raise StatusError(413, f"Request body too large (max {MAX_REPLAY_BODY_BYTES} bytes)")
    events = body["events"]
    if not events:
        raise StatusError(400, "events must not be empty")
    if len(events) > MAX_REPLAY_EVENTS:
        raise StatusError(400, f"Too many events (max {MAX_REPLAY_EVENTS})")
    first, last = _event_time_span(events, body["sent_at_ms"])
    now = now_millis()
    replay = await _recent_replay(db, project.id, refresh_token_id)
    if replay is None:
        replay = SessionReplay(id=str(uuid.uuid4()), project_id=project.id, user_id=user.id,
                               refresh_token_id=refresh_token_id, started_at_millis=first, last_event_at_millis=last,
                               updated_at_millis=now)
        db.add(replay)
    else:
        replay.started_at_millis = min(replay.started_at_millis, first)
        replay.last_event_at_millis = max(replay.last_event_at_millis, last)
        replay.updated_at_millis = now
    batch_id = body["batch_id"]
    answer = {"session_replay_id": replay.id, "batch_id": batch_id,
              "s3_key": f"session-replays/{project.id}/main/{replay.id}/{batch_id}.json.gz", "deduped": True}
    known = (await db.execute(select(SessionReplayChunk.id).where(
        SessionReplayChunk.session_replay_id == replay.id, SessionReplayChunk.batch_id == batch_id))).first()
    if known is None:
        db.add(SessionReplayChunk(
            id=str(uuid.uuid4()), project_id=project.id, session_replay_id=replay.id, batch_id=batch_id,
            browser_session_id=body["browser_session_id"], session_replay_segment_id=body["session_replay_segment_id"],
            started_at_ms=body["started_at_ms"], sent_at_ms=body["sent_at_ms"], first_event_at_millis=first,
            last_event_at_millis=last, events=events, created_at_millis=now))
        answer["deduped"] = False
    return answer


async def add_analytics_events(db: AsyncSession, project: ProjectView, user: User | None,
                               refresh_token_id: str | None, body: dict[str, Any]) -> dict[str, Any]:
    _check_uploader(project, user, refresh_token_id, "analytics events")
    replay = await _recent_replay(db, project.id, refresh_token_id)
    now = now_millis()
    for event in body["events"]:
        db.add(AnalyticsEvent(
            id=str(uuid.uuid4()), project_id=project.id, event_type=event["event_type"],
            event_at_millis=event["event_at_ms"], data=event["data"], user_id=user.id,
            refresh_token_id=refresh_token_id, session_replay_id=replay.id if replay else None,
            session_replay_segment_id=body["session_replay_segment_id"], batch_id=body["batch_id"],
            received_at_millis=now))
    return {"inserted": len(body["events"])}


# ---- read back by the emulator's own API ---------------------------------------------------------------------------

async def list_replays(db: AsyncSession, project_id: str) -> list[dict[str, Any]]:
    replays = (await db.execute(select(SessionReplay).where(SessionReplay.project_id == project_id)
                                .order_by(SessionReplay.started_at_millis))).scalars().all()
    chunks = (await db.execute(select(SessionReplayChunk).where(SessionReplayChunk.project_id == project_id)
                               .order_by(SessionReplayChunk.created_at_millis))).scalars().all()
    by_replay: dict[str, list[dict[str, Any]]] = {}
    for chunk in chunks:
        by_replay.setdefault(chunk.session_replay_id, []).append({
            "batch_id": chunk.batch_id, "browser_session_id": chunk.browser_session_id,
            "session_replay_segment_id": chunk.session_replay_segment_id, "started_at_ms": chunk.started_at_ms,
            "sent_at_ms": chunk.sent_at_ms, "first_event_at_millis": chunk.first_event_at_millis,
            "last_event_at_millis": chunk.last_event_at_millis, "event_count": len(chunk.events),
            "events": chunk.events, "received_at_millis": chunk.created_at_millis})
    return [{"id": r.id, "user_id": r.user_id, "refresh_token_id": r.refresh_token_id,
             "started_at_millis": r.started_at_millis, "last_event_at_millis": r.last_event_at_millis,
             "chunks": by_replay.get(r.id, [])} for r in replays]


async def list_analytics_events(db: AsyncSession, project_id: str, event_type: str | None) -> list[dict[str, Any]]:
    query = select(AnalyticsEvent).where(AnalyticsEvent.project_id == project_id)
    if event_type:
        query = query.where(AnalyticsEvent.event_type == event_type)
    rows = (await db.execute(query.order_by(AnalyticsEvent.received_at_millis, AnalyticsEvent.event_at_millis)))
    return [{"id": e.id, "event_type": e.event_type, "event_at_millis": e.event_at_millis, "data": e.data,
             "user_id": e.user_id, "refresh_token_id": e.refresh_token_id, "session_replay_id": e.session_replay_id,
             "session_replay_segment_id": e.session_replay_segment_id, "batch_id": e.batch_id,
             "received_at_millis": e.received_at_millis} for e in rows.scalars()]
