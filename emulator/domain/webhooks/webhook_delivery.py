"""Webhook delivery, as Svix does it: a signed HTTP POST per message and endpoint, a 15 s timeout, any 2xx is
success, failures retried on Svix's schedule (run on the emulator clock, so advancing it delivers the retries that
fell due), and an endpoint that keeps failing for 5 days is disabled.

Fresh deliveries come straight from the commit that created them (no store read before the POST); retries are
found in the store: each second, and right after the clock moves.
"""
from __future__ import annotations

import asyncio
import logging
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Iterator

from sqlalchemy import select, update
from standardwebhooks.webhooks import Webhook as Signer

from emulator import __version__, clock
from emulator.domain.webhooks import webhooks
from emulator.domain.webhooks.webhooks import FAIL, MANUAL, PENDING, SCHEDULED, SENDING, SUCCESS, Job
from emulator.store.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint, WebhookMessage

log = logging.getLogger("hexclave.webhooks")

TIMEOUT_SECONDS = 15.0
MAX_RESPONSE_CHARS = 64 * 1024
USER_AGENT = f"Svix-Webhooks/1.0 (sender-hexclave-emulator/{__version__})"


def signature(secrets: list[str], msg_id: str, sent_at: datetime, body: str) -> str:
    """svix-signature: `v1,<base64 HMAC-SHA256 of id.timestamp.body>` per secret, space-separated."""
    return " ".join(Signer(secret).sign(msg_id, sent_at, body) for secret in secrets)


@dataclass
class Outcome:
    job: Job
    ok: bool
    status_code: int
    response: str
    duration_ms: int
    attempt_id: str = ""


class Dispatcher:
    def __init__(self, database) -> None:
        self.database = database
        self._client = None  # an httpx.AsyncClient, made on the first delivery
        self._tasks: set[asyncio.Task] = set()
        self._round = asyncio.Lock()
        self._waiters: list[asyncio.Future] = []
        self._outcomes: dict[str, list[asyncio.Future]] = {}
        webhooks.on_commit.append(self.submit)
        clock.after_advance.append(self.after_clock_advance)

    # ---- starting work

    def submit(self, jobs: list[Job]) -> None:
        """Jobs of a committed transaction: POST them now."""
        for job in jobs:
            task = asyncio.get_running_loop().create_task(self._run(job))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def after_clock_advance(self, _state) -> None:
        if self._tasks:  # attempts under way first: a failure among them schedules a retry that may now be due
            await asyncio.wait(set(self._tasks))
        await self.deliver_due()

    async def resume(self) -> None:
        """At start-up, before requests are served: attempts cut short by the last stop go again."""
        async with self.database.session() as db:
            await db.execute(update(WebhookDelivery).where(WebhookDelivery.status == SENDING)
                             .values(status=PENDING))
            await db.commit()

    async def run(self) -> None:
        """The background loop: retries that fall due in real time (the clock's own advance runs them at once)."""
        while True:
            await asyncio.sleep(1.0)
            try:
                await self.deliver_due()
            except Exception:
                log.exception("webhook retry round failed; trying again")

    async def deliver_due(self) -> None:
        """Attempt every delivery whose retry is due, until none is (a long clock jump runs a whole schedule).
        One round at a time: a clock advance waits for the background round, then sees what it scheduled."""
        async with self._round:
            while jobs := await self._claim_due():
                await asyncio.gather(*(self._run(job) for job in jobs))

    async def _claim_due(self) -> list[Job]:
        async with self.database.session() as db:
            due = (await db.execute(
                select(WebhookDelivery, WebhookMessage, WebhookEndpoint)
                .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                .where(WebhookDelivery.status == PENDING,
                       WebhookDelivery.next_attempt_at_millis <= clock.now_millis())
                .order_by(WebhookDelivery.next_attempt_at_millis).limit(100))).all()
            jobs = []
            for delivery, msg, ep in due:
                if ep.disabled:  # Svix stops sending to a disabled endpoint
                    delivery.status = FAIL
                    continue
                delivery.status = SENDING
                jobs.append(webhooks.job(delivery, msg, ep))
            if due:
                await db.commit()
            return jobs

    # ---- one attempt

    async def _run(self, job: Job) -> None:
        try:
            outcome = await self._post(job)
            # Told before recording: a request that waits for the outcome may hold the store until it is told.
            for future in self._outcomes.pop(job.message_id + job.endpoint_id, []):
                if not future.done():
                    future.set_result(outcome)
            await self._record(outcome)
        except Exception:
            log.exception("webhook delivery %s failed unexpectedly", job.delivery_id)
            return
        for future in self._waiters:
            if not future.done():
                future.set_result(outcome)

    async def _post(self, job: Job) -> Outcome:
        import httpx  # on the first delivery: keeps start-up short

        if self._client is None:
            self._client = httpx.AsyncClient(timeout=TIMEOUT_SECONDS, follow_redirects=False)
        # Receivers check svix-timestamp against their own (wall) clock, so it is real time, not the emulator's.
        sent_at = datetime.now(timezone.utc)
        headers = {**job.headers, "content-type": "application/json", "user-agent": USER_AGENT,
                   "svix-id": job.message_id, "svix-timestamp": str(int(sent_at.timestamp())),
                   "svix-signature": signature(job.secrets, job.message_id, sent_at, job.body)}
        started = time.perf_counter()
        try:
            response = await self._client.post(job.url, content=job.body.encode(), headers=headers)
        except httpx.TimeoutException:
            return Outcome(job, False, 0, "timed out", int((time.perf_counter() - started) * 1000))
        except (httpx.HTTPError, ValueError) as exc:
            return Outcome(job, False, 0, f"could not connect: {exc}" if str(exc) else "could not connect",
                           int((time.perf_counter() - started) * 1000))
        duration = int((time.perf_counter() - started) * 1000)
        return Outcome(job, 200 <= response.status_code < 300, response.status_code,
                       response.text[:MAX_RESPONSE_CHARS], duration)

    async def _record(self, outcome: Outcome) -> None:
        job, now = outcome.job, clock.now_millis()
        async with self.database.session() as db:
            attempt = WebhookAttempt(id=webhooks.new_id("atmpt"), project_id=job.project_id,
                                     message_id=job.message_id, endpoint_id=job.endpoint_id, url=job.url,
                                     status=SUCCESS if outcome.ok else FAIL,
                                     trigger_type=MANUAL if job.manual else SCHEDULED,
                                     response_status_code=outcome.status_code, response=outcome.response,
                                     response_duration_ms=outcome.duration_ms, created_at_millis=now)
            db.add(attempt)
            outcome.attempt_id = attempt.id
            delivery = await db.get(WebhookDelivery, job.delivery_id)
            if delivery is not None:
                delivery.attempts_made = job.attempts_made + (0 if job.manual else 1)
                if outcome.ok:
                    delivery.status = SUCCESS
                elif job.manual or delivery.attempts_made > len(webhooks.RETRY_DELAYS_SECONDS):
                    delivery.status = FAIL
                else:
                    # From when the attempt was due, not when it ran: after a clock jump the schedule catches up.
                    delivery.status = PENDING
                    delivery.next_attempt_at_millis = (
                        job.due_at_millis + webhooks.RETRY_DELAYS_SECONDS[delivery.attempts_made - 1] * 1000)
            ep = await db.get(WebhookEndpoint, job.endpoint_id)
            if ep is not None:
                if outcome.ok:
                    ep.failing_since_millis = None
                elif ep.failing_since_millis is None:
                    ep.failing_since_millis = now
                elif now - ep.failing_since_millis >= webhooks.DISABLE_AFTER_FAILING_MILLIS:
                    ep.disabled = True
                    log.warning("webhook endpoint %s (%s) failed for 5 days: disabled", ep.id, ep.url)
            await db.commit()

    # ---- waiting for outcomes

    @contextmanager
    def next_outcome(self) -> Iterator[asyncio.Future]:
        """A future for the next recorded attempt (of any delivery). Register before looking in the store."""
        future = asyncio.get_running_loop().create_future()
        self._waiters.append(future)
        try:
            yield future
        finally:
            self._waiters.remove(future)

    @contextmanager
    def outcome_of(self, message_id: str, endpoint_id: str) -> Iterator[asyncio.Future]:
        """A future for the next recorded attempt of one message to one endpoint."""
        future = asyncio.get_running_loop().create_future()
        self._outcomes.setdefault(message_id + endpoint_id, []).append(future)
        try:
            yield future
        finally:
            waiting = self._outcomes.get(message_id + endpoint_id)
            if waiting and future in waiting:
                waiting.remove(future)
                if not waiting:
                    del self._outcomes[message_id + endpoint_id]

    async def close(self) -> None:
        webhooks.on_commit.remove(self.submit)
        clock.after_advance.remove(self.after_clock_advance)
        for task in list(self._tasks):
            task.cancel()
        if self._client is not None:
            await self._client.aclose()
