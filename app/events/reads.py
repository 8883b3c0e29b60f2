"""Reading deliveries for the API: a keyset-paged list and the rows that go with a page.

A page is then completed with two bulk reads (its events, its attempts), so listing deliveries
costs the same few statements whatever the page size.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import DeliveryAttempt, DeliveryStatus, OutboxEvent, WebhookDelivery
from app.pagination import KeysetOrder

__all__ = ["DELIVERY_ORDER", "attempts_of", "delivery_query", "events_of"]

DELIVERY_ORDER = KeysetOrder("id", WebhookDelivery.id, WebhookDelivery.id, True, int)
"""Newest first."""


def delivery_query(
    *, app_id: int | None = None, status: DeliveryStatus | None = None
) -> Select[tuple[WebhookDelivery]]:
    query = select(WebhookDelivery)
    if app_id is not None:
        query = query.where(WebhookDelivery.app_id == app_id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    return query


async def events_of(session: AsyncSession, seqs: Iterable[int]) -> dict[int, OutboxEvent]:
    wanted = set(seqs)
    if not wanted:
        return {}
    rows = await session.scalars(select(OutboxEvent).where(OutboxEvent.seq.in_(wanted)))
    return {row.seq: row for row in rows}


async def attempts_of(
    session: AsyncSession, delivery_ids: Iterable[int]
) -> dict[int, list[DeliveryAttempt]]:
    wanted = set(delivery_ids)
    found: dict[int, list[DeliveryAttempt]] = defaultdict(list)
    if not wanted:
        return found
    rows = await session.scalars(
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id.in_(wanted))
        .order_by(DeliveryAttempt.delivery_id, DeliveryAttempt.id)
    )
    for row in rows:
        found[row.delivery_id].append(row)
    return found
