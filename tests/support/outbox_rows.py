"""Reading what a shop's changes wrote to the outbox, for tests of the domain events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.events.models import OutboxEvent
from app.events.topics import Topic
from tests.support.factories import World

__all__ = ["outbox_rows", "payloads", "topics"]


async def outbox_rows(world: World, *only: Topic) -> list[OutboxEvent]:
    """The shop's outbox rows in the order they were written, of ``only`` these topics if given."""
    query = select(OutboxEvent).where(OutboxEvent.shop_id == world.shop.id)
    if only:
        query = query.where(OutboxEvent.topic.in_([t.value for t in only]))
    async with world.services.db.reader() as session:
        return list(await session.scalars(query.order_by(OutboxEvent.seq)))


async def topics(world: World) -> list[str]:
    return [row.topic for row in await outbox_rows(world)]


async def payloads(world: World, topic: Topic) -> list[dict[str, Any]]:
    return [row.payload for row in await outbox_rows(world, topic)]
