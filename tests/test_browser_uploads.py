"""What the SDK uploads from browsers with the analytics app on: POST /session-replays/batch and
/analytics/events/batch, checked as the platform does and readable through the emulator's own API
(GET /api/v1/emulator/session-replays and /api/v1/emulator/analytics-events).

Reference: apps/backend/src/app/api/latest/session-replays/batch/route.tsx, analytics/events/batch/route.tsx, e2e
session-replays.test.ts and analytics-events-batch.test.ts (the ClickHouse/admin query parts are out of scope).
"""
from __future__ import annotations

import json
import time
import uuid

import pytest

from support import start_emulator
from wire import anon_sign_up, call, known_error, ok, raw, schema_error, sign_up, text_error, write_config

ON = {"auth": {"allowSignUp": True, "password": {"allowSignIn": True}}, "apps": {"installed": {"analytics": {"enabled": True}}}}
REPLAY = "/api/v1/session-replays/batch"
EVENTS = "/api/v1/analytics/events/batch"


@pytest.fixture(scope="module")
def aemu():
    e = start_emulator(config=write_config(ON))
    yield e
    e.stop()


def replay_body(**overrides):
    # Batches join a replay only while it is recent (started within 12 h), as on the platform: current times.
    now = int(time.time() * 1000)
    return {"browser_session_id": str(uuid.uuid4()), "session_replay_segment_id": str(uuid.uuid4()),
            "batch_id": str(uuid.uuid4()), "started_at_ms": now - 1000, "sent_at_ms": now,
            "events": [{"timestamp": now - 900, "type": 2}, {"timestamp": now - 800, "type": 3}], **overrides}


def events_body(**overrides):
    return {"session_replay_segment_id": str(uuid.uuid4()), "batch_id": str(uuid.uuid4()),
            "sent_at_ms": 1_700_000_000_500,
            "events": [{"event_type": "$page-view", "event_at_ms": 1_700_000_000_100, "data": {"path": "/a"}},
                       {"event_type": "$click", "event_at_ms": 1_700_000_000_200, "data": {"tag_name": "button"}}],
            **overrides}


def upload(emu, path, body, token, headers=None):
    # Sent with \u escapes, as browsers' JSON.stringify does, so that a lone surrogate can travel.
    return call(emu, "POST", path.removeprefix("/api/v1"), token=token, content=json.dumps(body),
                headers={"content-type": "application/json", **(headers or {})})


def listing(emu, what, **query):
    return ok(raw(emu, "GET", f"/api/v1/emulator/{what}", params={"project_id": emu.project_id, **query}))["items"]


def test_replay_batches_join_one_replay_and_dedupe(aemu):
    user = sign_up(aemu)
    body = replay_body()
    first = ok(upload(aemu, REPLAY, body, user["access_token"]))
    assert first["deduped"] is False and first["batch_id"] == body["batch_id"]
    assert first["s3_key"] == f"session-replays/{aemu.project_id}/main/{first['session_replay_id']}/{body['batch_id']}.json.gz"
    again = ok(upload(aemu, REPLAY, {**body, "events": [{"type": 5}]}, user["access_token"]))
    assert again == {**first, "deduped": True}
    untimed = replay_body(events=[{"type": 4}])
    next_batch = ok(upload(aemu, REPLAY, untimed, user["access_token"]))
    assert next_batch["session_replay_id"] == first["session_replay_id"] and next_batch["deduped"] is False
    other_session = ok(upload(aemu, REPLAY, replay_body(), sign_up(aemu)["access_token"]))
    assert other_session["session_replay_id"] != first["session_replay_id"]

    replay = next(r for r in listing(aemu, "session-replays") if r["id"] == first["session_replay_id"])
    assert replay["user_id"] == user["user_id"]
    assert [c["batch_id"] for c in replay["chunks"]] == [body["batch_id"], next_batch["batch_id"]]
    assert replay["chunks"][0]["events"] == body["events"]  # the first upload of a batch is the one kept
    assert replay["chunks"][1]["first_event_at_millis"] == untimed["sent_at_ms"]  # no timestamps: sent_at_ms


def test_analytics_events_are_stored(aemu):
    user = sign_up(aemu)
    replay = ok(upload(aemu, REPLAY, replay_body(), user["access_token"]))
    body = events_body(events=[*events_body()["events"],
                               {"event_type": "$click", "event_at_ms": 1_700_000_000_300, "data": {"text": "cut \ud83d"}}])
    assert ok(upload(aemu, EVENTS, body, user["access_token"])) == {"inserted": 3}
    mine = [e for e in listing(aemu, "analytics-events") if e["batch_id"] == body["batch_id"]]
    assert [e["event_type"] for e in mine] == ["$page-view", "$click", "$click"]
    assert all(e["user_id"] == user["user_id"] and e["session_replay_id"] == replay["session_replay_id"] for e in mine)
    assert mine[2]["data"] == {"text": "cut \ufffd"}  # a lone surrogate cannot be kept as text
    clicks = listing(aemu, "analytics-events", event_type="$click")
    assert {e["batch_id"] for e in clicks} >= {body["batch_id"]} and all(e["event_type"] == "$click" for e in clicks)


@pytest.mark.parametrize("path,body", [(REPLAY, replay_body()), (EVENTS, events_body())])
def test_needs_a_signed_in_user_and_the_analytics_app(aemu, emu, path, body):
    known_error(upload(aemu, path, body, None), 401, "USER_AUTHENTICATION_REQUIRED")
    known_error(upload(emu, path, body, sign_up(emu)["access_token"]), 400, "ANALYTICS_NOT_ENABLED")


def test_anonymous_users_upload_with_the_anonymous_header(aemu):
    anon = anon_sign_up(aemu)
    r = upload(aemu, REPLAY, replay_body(), anon["access_token"], headers={"x-stack-allow-anonymous-user": "true"})
    assert ok(r)["deduped"] is False


def test_replay_batch_limits(aemu):
    token = sign_up(aemu)["access_token"]
    text_error(upload(aemu, REPLAY, replay_body(events=[]), token), 400, "events must not be empty")
    text_error(upload(aemu, REPLAY, replay_body(events=[{"timestamp": i} for i in range(5001)]), token), 400,
               "Too many events (max 5000)")
    huge = replay_body(events=[{"timestamp": 1, "data": "a" * 1_100_000}])
    text_error(upload(aemu, REPLAY, huge, token), 413, "Request body too large (max 1000000 bytes)")


@pytest.mark.parametrize("field", ["browser_session_id", "batch_id", "session_replay_segment_id"])
def test_replay_ids_must_be_uuids(aemu, field):
    r = upload(aemu, REPLAY, replay_body(**{field: "not-a-uuid"}), sign_up(aemu)["access_token"])
    assert schema_error(r, "POST", REPLAY) == [f"Invalid {field}"]


def test_replay_times_must_be_whole_millis(aemu):
    r = upload(aemu, REPLAY, replay_body(started_at_ms=123.4, sent_at_ms=-1), sign_up(aemu)["access_token"])
    assert schema_error(r, "POST", REPLAY) == ["body.started_at_ms must be an integer",
                                               "body.sent_at_ms must be greater than or equal to 0"]


def test_analytics_event_checks(aemu):
    token = sign_up(aemu)["access_token"]
    r = upload(aemu, EVENTS, events_body(events=[]), token)
    assert schema_error(r, "POST", EVENTS) == ["body.events field must have at least 1 items"]
    many = [{"event_type": "$click", "event_at_ms": 1, "data": {}}] * 501
    r = upload(aemu, EVENTS, events_body(events=many), token)
    assert schema_error(r, "POST", EVENTS) == ["body.events field must have less than or equal to 500 items"]
    r = upload(aemu, EVENTS, events_body(events=[{"event_type": "$scroll", "event_at_ms": 1, "data": {}},
                                                 {"event_type": "$click", "event_at_ms": 1}, "not an object"]), token)
    assert schema_error(r, "POST", EVENTS) == [
        "body.events[0].event_type must be one of the following values: $page-view, $click",
        "body.events[1].data must be defined",
        'body.events[2] must be a `object` type, but the final value was: `"not an object"`.']


def test_read_back_needs_a_project_id(aemu):
    r = raw(aemu, "GET", "/api/v1/emulator/session-replays")
    assert schema_error(r, "GET", "/api/v1/emulator/session-replays") == ["query.project_id must be defined"]
