"""How far behind the outbox is, measured when Prometheus scrapes.

Two cheap reads, each answered by an index: the oldest unrouted event (``routed_at, seq``) and
the earliest due pending delivery (``status, next_attempt_at``). Measuring at scrape time, rather
than in the dispatcher, means a dispatcher that has stopped shows a growing lag instead of its
last good value.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func, select

from app.db import Database
from app.events.models import DeliveryStatus, OutboxEvent, WebhookDelivery
from app.observability.metrics import OUTBOX_LAG

__all__ = ["OutboxLag", "outbox_lag"]


async def outbox_lag(db: Database, now: datetime) -> dict[str, float]:
    """Seconds the oldest waiting work has waited, by stage; 0 when none waits."""
    async with db.reader() as session:
        unrouted = await session.scalar(
            select(OutboxEvent.occurred_at)
            .where(OutboxEvent.routed_at.is_(None))
            .order_by(OutboxEvent.seq)
            .limit(1)
        )
        due = await session.scalar(
            select(func.min(WebhookDelivery.next_attempt_at)).where(
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at <= now,
            )
        )
    return {
        "routing": max(0.0, (now - unrouted).total_seconds()) if unrouted else 0.0,
        "delivery": max(0.0, (now - due).total_seconds()) if due else 0.0,
    }


class OutboxLag:
    """A scrape-time probe: sets ``agora_outbox_lag_seconds`` from ``outbox_lag``."""

    def __init__(self, db: Database, clock: Callable[[], datetime]) -> None:
        self._db = db
        self._clock = clock

    async def __call__(self) -> None:
        for stage, seconds in (await outbox_lag(self._db, self._clock())).items():
            OUTBOX_LAG.labels(stage=stage).set(seconds)
