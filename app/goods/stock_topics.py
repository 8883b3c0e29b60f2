"""The outbox side of stock: ``inventory/below_threshold``, edge-triggered.

A level is low when its available stock (on hand - reserved) is under its
``low_stock_threshold`` (0 turns the event off). The event fires when an operation that lowers
availability takes a level from not low to low, and only then: further decrements of a level
that is already low say nothing new, and a level that is restocked past its threshold and falls
again fires again. Each operation knows the level's values before and after from the RETURNING
of its own conditional UPDATE, so deciding costs no query; the event itself is one INSERT in the
operation's transaction, committed or rolled back with it.

Operations that cannot lower availability never look: releasing a reservation raises it, and
shipping reserved stock lowers on hand and reserved alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.events.outbox import record_event
from app.events.topics import Topic
from app.goods.models import InventoryLevel

__all__ = ["FACTS", "StockFacts", "fell_below", "record_below_threshold"]

# What a stock UPDATE returns so that the edge is decided without a read: ``StockFacts(*row)``.
FACTS = (
    InventoryLevel.id,
    InventoryLevel.warehouse_id,
    InventoryLevel.on_hand,
    InventoryLevel.reserved,
    InventoryLevel.low_stock_threshold,
)


def fell_below(before: int, after: int, threshold: int) -> bool:
    """Available stock went from at least ``threshold`` to under it."""
    return threshold > 0 and after < threshold <= before


@dataclass(frozen=True, slots=True)
class StockFacts:
    """What a level's UPDATE returned: on hand, reserved and threshold after the change."""

    level_id: int
    warehouse_id: int
    on_hand: int
    reserved: int
    threshold: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    def crossed(self, lowered_by: int) -> bool:
        """Whether lowering availability by ``lowered_by`` took the level below its threshold."""
        return lowered_by > 0 and fell_below(
            self.available + lowered_by, self.available, self.threshold
        )


def record_below_threshold(
    session: AsyncSession,
    shop_id: int,
    *,
    variant_id: int,
    product_id: int | None,
    sku: str | None,
    facts: StockFacts,
    now: datetime | None = None,
) -> None:
    payload: dict[str, Any] = {
        "variant_id": variant_id,
        "product_id": product_id,
        "warehouse_id": facts.warehouse_id,
        "sku": sku,
        "available": facts.available,
        "on_hand": facts.on_hand,
        "reserved": facts.reserved,
        "threshold": facts.threshold,
    }
    record_event(
        session, Topic.INVENTORY_BELOW_THRESHOLD, shop_id, payload, occurred_at=now or utcnow()
    )
