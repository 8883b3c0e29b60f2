"""The dispatcher: routes new events and delivers due webhooks, in a loop or one round.

``agora serve`` runs ``run_forever`` beside the API and ``agora worker`` runs it alone. Any
number may run against PostgreSQL: routing and claiming skip rows another dispatcher has
locked, and a claimed delivery is leased. On SQLite, run one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from app.db import Database
from app.events.delivery import WebhookSender, claim_batch, delivery_outcome, record_batch
from app.events.policy import DeliveryPolicy
from app.events.ports import Router
from app.events.routing import route_pending
from app.observability.metrics import WEBHOOK_DELIVERIES

__all__ = ["DispatchReport", "Dispatcher"]

log = logging.getLogger("agora.events")

# One round does at most this many batches of each kind, so a backlog cannot starve the loop's
# other duties (and a test's round always ends).
MAX_BATCHES_PER_ROUND = 100


@dataclass(frozen=True, slots=True)
class DispatchReport:
    routed: int = 0
    attempted: int = 0
    delivered: int = 0
    failed: int = 0

    def __add__(self, other: DispatchReport) -> DispatchReport:
        return DispatchReport(
            self.routed + other.routed,
            self.attempted + other.attempted,
            self.delivered + other.delivered,
            self.failed + other.failed,
        )

    @property
    def idle(self) -> bool:
        return not (self.routed or self.attempted)


class Dispatcher:
    def __init__(
        self,
        db: Database,
        router: Router,
        sender: WebhookSender,
        policy: DeliveryPolicy,
        clock: Callable[[], datetime],
    ) -> None:
        self._db = db
        self._router = router
        self._sender = sender
        self._policy = policy
        self._clock = clock

    async def route(self) -> int:
        routed = 0
        for _ in range(MAX_BATCHES_PER_ROUND):
            count = await route_pending(self._db, self._router, self._clock, self._policy)
            routed += count
            if count < self._policy.batch_size:
                break
        return routed

    async def deliver_batch(self) -> DispatchReport:
        """Claim, attempt and record one batch; an empty report when nothing was due."""
        batch = await claim_batch(self._db, self._clock(), self._policy)
        if batch is None:
            return DispatchReport()
        attempts = await self._sender.attempt_batch(batch)
        now = self._clock()
        async with self._db.writer() as session, session.begin():
            await record_batch(session, batch, attempts, now, self._policy)
        tried = [a for a in attempts if a.ok is not None]
        for attempt in tried:
            WEBHOOK_DELIVERIES.labels(delivery_outcome(attempt, now, self._policy)).inc()
        delivered = sum(1 for a in tried if a.ok)
        return DispatchReport(
            attempted=len(tried), delivered=delivered, failed=len(tried) - delivered
        )

    async def run_once(self) -> DispatchReport:
        """Route everything new, then deliver until nothing more is due."""
        report = DispatchReport(routed=await self.route())
        for _ in range(MAX_BATCHES_PER_ROUND):
            batch = await self.deliver_batch()
            report += batch
            if batch.idle:
                break
        return report

    async def run_forever(self, interval_seconds: float) -> None:
        """Until cancelled. Sleeps only when a round found nothing to do; a failing round is
        logged and the loop goes on."""
        while True:
            try:
                report = await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a dispatcher round failed")
                report = DispatchReport()
            if report.idle:
                await asyncio.sleep(interval_seconds)
