"""Webhooks as the platform sends them through Svix: events, the Svix application of each project (endpoints,
messages, delivery attempts) and their JSON shapes.

An event is stored as a message, with one delivery row per endpoint that takes it, in the transaction of the write
that caused it; the dispatcher (emulator.domain.webhooks.webhook_delivery) hears of the deliveries when that transaction
COMMITS (a rollback drops them), so nothing is ever announced that did not happen.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from emulator.clock import now_millis
from emulator.store import driver
from emulator.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

# The platform's event types (its suite and seed docs), and the one its dashboard's "send test" uses.
EVENT_TYPES = (
    "user.created", "user.updated", "user.deleted",
    "team.created", "team.updated", "team.deleted",
    "team_membership.created", "team_membership.deleted",
    "team_permission.created", "team_permission.deleted",
    "project_permission.created", "project_permission.deleted",
)
TEST_EVENT_TYPE = "stack.test"

# Svix MessageStatus and its text.
SUCCESS, PENDING, FAIL, SENDING = 0, 1, 2, 3
STATUS_TEXT = {SUCCESS: "success", PENDING: "pending", FAIL: "fail", SENDING: "sending"}
SCHEDULED, MANUAL = 0, 1  # MessageAttemptTriggerType

# Svix's retry schedule: after the first attempt fails, retries 5 s, 5 min, 30 min, 2 h, 5 h, 10 h and 10 h later.
RETRY_DELAYS_SECONDS = (5, 300, 1800, 7200, 18000, 36000, 36000)
# Svix disables an endpoint whose every attempt has failed for 5 days.
DISABLE_AFTER_FAILING_MILLIS = 5 * 24 * 3600 * 1000
# Secrets are base64 of 24 to 75 random bytes, prefixed with whsec_ (as Svix accepts them).
SECRET_PREFIX = "whsec_"

# The webhook secret of endpoints declared in hexclave.config.py (`emulatorWebhookEndpoints`): set at start-up
# from HEXCLAVE_WEBHOOK_SECRET, else kept in the data file, and printed in the banner.
config_endpoint_secret: str | None = None

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_KSUID_EPOCH = 1_400_000_000


def new_id(prefix: str) -> str:
    """A Svix-style id: `prefix_` and a 27-character KSUID (4 bytes of seconds, 16 random bytes, base62)."""
    number = int.from_bytes((int(time.time()) - _KSUID_EPOCH).to_bytes(4, "big") + os.urandom(16), "big")
    digits = []
    while number:
        number, digit = divmod(number, 62)
        digits.append(_BASE62[digit])
    return f"{prefix}_{''.join(reversed(digits)).rjust(27, '0')}"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def is_valid_secret(secret: Any) -> bool:
    if not isinstance(secret, str):
        return False
    try:
        raw = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    except ValueError:
        return False
    return 24 <= len(raw) <= 75


def iso(millis: int | None) -> str | None:
    if millis is None:
        return None
    return datetime.fromtimestamp(millis / 1000, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def body_text(payload: Any) -> str:
    """The request body of a delivery, as the platform's Svix client serializes a payload."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


# ---------------------------------------------------------------- shapes (Svix's JSON, camelCase)

def endpoint_out(ep: WebhookEndpoint) -> dict[str, Any]:
    return {"id": ep.id, "metadata": ep.metadata_ or {}, "url": ep.url, "description": ep.description or "",
            "throttleRate": ep.throttle_rate, "uid": ep.uid, "disabled": ep.disabled, "eventTypes": ep.event_types,
            "channels": ep.channels, "createdAt": iso(ep.created_at_millis), "updatedAt": iso(ep.updated_at_millis)}


def message_out(msg: WebhookMessage, with_content: bool = True) -> dict[str, Any]:
    return {"channels": msg.channels, "eventId": msg.event_id, "eventType": msg.event_type, "id": msg.id,
            "payload": msg.payload if with_content else {}, "timestamp": iso(msg.created_at_millis)}


def attempt_out(attempt: WebhookAttempt, msg: WebhookMessage | None = None) -> dict[str, Any]:
    out = {"url": attempt.url, "response": attempt.response, "responseStatusCode": attempt.response_status_code,
           "responseDurationMs": attempt.response_duration_ms, "status": attempt.status,
           "statusText": STATUS_TEXT[attempt.status], "triggerType": attempt.trigger_type, "msgId": attempt.message_id,
           "endpointId": attempt.endpoint_id, "id": attempt.id, "timestamp": iso(attempt.created_at_millis)}
    if msg is not None:
        out["msg"] = message_out(msg)
    return out


def delivery_status(delivery: WebhookDelivery) -> dict[str, Any]:
    """A delivery's status as Svix reports it (an attempt under way counts as pending)."""
    status = PENDING if delivery.status == SENDING else delivery.status
    return {"status": status, "statusText": STATUS_TEXT[status],
            "nextAttempt": iso(delivery.next_attempt_at_millis) if status == PENDING else None}


# ---------------------------------------------------------------- endpoints

def takes(ep: WebhookEndpoint, event_type: str, channels: list[str] | None) -> bool:
    """Whether an endpoint receives a message: enabled, of a type it filters for, on a channel it listens to."""
    if ep.disabled:
        return False
    if ep.event_types and event_type not in ep.event_types:
        return False
    return not ep.channels or bool(channels and set(channels) & set(ep.channels))


# (store, project id) -> the webhook_endpoints table version at which the project had no endpoints: every write
# announces an event, and most projects have no endpoint, so the query is skipped until that table next changes.
_none_at: dict[tuple[int, str], tuple[int, int]] = {}


async def endpoints(db: AsyncSession, project_id: str, config: dict[str, Any] | None = None) -> list[WebhookEndpoint]:
    """The project's endpoints, oldest first; with its `config`, the ones it declares are brought up to date first."""
    declares = config is not None and any(spec.get("url") for spec in (config.get("emulatorWebhookEndpoints") or {})
                                          .values())
    key, version = (id(db.bind), project_id), driver.table_version(WebhookEndpoint.__tablename__)
    if not declares and _none_at.get(key) == version:
        return []
    rows = list((await db.execute(select(WebhookEndpoint).where(WebhookEndpoint.project_id == project_id)
                                  .order_by(WebhookEndpoint.created_at_millis, WebhookEndpoint.id))).scalars())
    if config is not None:
        rows = await _sync_declared(db, project_id, config.get("emulatorWebhookEndpoints") or {}, rows)
    if not rows and not declares and len(_none_at) < 10_000:
        _none_at[key] = version
    return rows


async def _sync_declared(db: AsyncSession, project_id: str, declared: dict[str, Any],
                         rows: list[WebhookEndpoint]) -> list[WebhookEndpoint]:
    """Endpoints declared in the config (keyed by uid) exist, as declared, with the config endpoint secret."""
    declared = {uid: spec for uid, spec in declared.items() if spec.get("url")}
    existing = {ep.uid: ep for ep in rows if ep.from_config}
    keep = []
    for ep in rows:
        if ep.from_config and ep.uid not in declared:
            await db.delete(ep)
        else:
            keep.append(ep)
    secret = config_endpoint_secret or new_secret()
    for uid, spec in declared.items():
        types = sorted(k for k, on in (spec.get("eventTypes") or {}).items() if on) or None
        wanted = {"url": spec["url"], "description": spec.get("description") or "", "event_types": types}
        ep = existing.get(uid)
        if ep is None:
            now = now_millis()
            ep = WebhookEndpoint(id=new_id("ep"), project_id=project_id, uid=uid, secret=secret, channels=None,
                                 metadata_={}, headers={}, disabled=False, from_config=True, created_at_millis=now,
                                 updated_at_millis=now, **wanted)
            db.add(ep)
            keep.append(ep)
        elif any(getattr(ep, k) != v for k, v in wanted.items()) or ep.secret != secret:
            for k, v in wanted.items():
                setattr(ep, k, v)
            ep.secret, ep.updated_at_millis = secret, now_millis()
    return keep


async def find_endpoint(db: AsyncSession, project_id: str, id_or_uid: str) -> WebhookEndpoint | None:
    """By id, or by the uid the app gave it (Svix takes either in paths)."""
    field_ = WebhookEndpoint.id if id_or_uid.startswith("ep_") else WebhookEndpoint.uid
    return (await db.execute(select(WebhookEndpoint).where(WebhookEndpoint.project_id == project_id,
                                                           field_ == id_or_uid))).scalars().first()


def signing_secrets(ep: WebhookEndpoint) -> list[str]:
    """The current secret, and the previous one during its grace period after a rotation."""
    out = [ep.secret]
    if ep.previous_secret and (ep.previous_secret_expires_at_millis or 0) > now_millis():
        out.append(ep.previous_secret)
    return out


# ---------------------------------------------------------------- messages and their deliveries

@dataclass
class Job:
    """One HTTP attempt to make: everything the dispatcher needs without reading the store."""
    delivery_id: str
    message_id: str
    endpoint_id: str
    project_id: str
    event_type: str
    url: str
    body: str
    secrets: list[str]
    headers: dict[str, str]
    due_at_millis: int
    attempts_made: int = 0
    manual: bool = False


def job(delivery: WebhookDelivery, msg: WebhookMessage, ep: WebhookEndpoint, *, manual: bool = False) -> Job:
    return Job(delivery.id, msg.id, ep.id, msg.project_id, msg.event_type, ep.url, body_text(msg.payload),
               signing_secrets(ep), dict(ep.headers or {}), delivery.next_attempt_at_millis or now_millis(),
               delivery.attempts_made, manual)


_JOBS = "webhook_jobs"
# Called with the jobs of each committed transaction: the running dispatcher registers itself here.
on_commit: list[Callable[[list[Job]], None]] = []


def queue_after_commit(db: AsyncSession, jobs: list[Job]) -> None:
    db.info.setdefault(_JOBS, []).extend(jobs)


@event.listens_for(Session, "after_commit")
def _announce_after_commit(session: Session) -> None:
    jobs = session.info.pop(_JOBS, None)
    if jobs:
        for hand_over in on_commit:
            hand_over(jobs)


@event.listens_for(Session, "after_rollback")
def _drop_after_rollback(session: Session) -> None:
    session.info.pop(_JOBS, None)


async def create_message(db: AsyncSession, project_id: str, event_type: str, payload: Any, *,
                         config: dict[str, Any] | None = None, event_id: str | None = None,
                         channels: list[str] | None = None) -> WebhookMessage:
    """Store a message and a delivery to each endpoint that takes it; they go out when `db` commits."""
    now = now_millis()
    receivers = await endpoints(db, project_id, config)  # before adding the message: its query need not flush it
    msg = WebhookMessage(id=new_id("msg"), project_id=project_id, event_type=event_type, event_id=event_id,
                         channels=channels, payload=payload, created_at_millis=now)
    db.add(msg)
    jobs = []
    for ep in receivers:
        if takes(ep, event_type, channels):
            delivery = WebhookDelivery(id=new_id("dlv"), project_id=project_id, message_id=msg.id, endpoint_id=ep.id,
                                       status=SENDING, attempts_made=0, next_attempt_at_millis=now,
                                       created_at_millis=now)
            db.add(delivery)
            jobs.append(job(delivery, msg, ep))
    queue_after_commit(db, jobs)  # stored with the request's next flush (at the latest its commit)
    return msg


async def emit(db: AsyncSession, project, event_type: str, data: dict[str, Any]) -> WebhookMessage:
    """Announce a platform event of `project` (a ProjectView): payload `{"type", "data"}` as the platform sends."""
    return await create_message(db, project.id, event_type, {"type": event_type, "data": data},
                                config=project.config)


async def resend(db: AsyncSession, msg: WebhookMessage, ep: WebhookEndpoint) -> None:
    """Svix's manual resend: one more attempt of a message to an endpoint, now, whatever came before."""
    delivery = (await db.execute(select(WebhookDelivery).where(WebhookDelivery.message_id == msg.id,
                                                               WebhookDelivery.endpoint_id == ep.id))).scalars().first()
    now = now_millis()
    if delivery is None:
        delivery = WebhookDelivery(id=new_id("dlv"), project_id=msg.project_id, message_id=msg.id, endpoint_id=ep.id,
                                   attempts_made=0, created_at_millis=now)
        db.add(delivery)
    delivery.status, delivery.next_attempt_at_millis = SENDING, now
    await db.flush()
    queue_after_commit(db, [job(delivery, msg, ep, manual=True)])
