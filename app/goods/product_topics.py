"""The outbox side of the catalog: ``products/updated``.

A merchant's change to a product (its fields, its status, archiving it, or its variants in bulk)
writes one event in the change's transaction, from the product row at hand. ``updated_fields``
names what changed, in the API's words; a call that changes nothing writes nothing. Creating a
product is not an update, so its first variants say nothing either.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.events.outbox import record_event
from app.events.topics import Topic
from app.goods.models import Product

__all__ = ["product_payload", "record_product_updated"]


def product_payload(product: Product, updated_fields: Iterable[str]) -> dict[str, Any]:
    return {
        "product_id": product.id,
        "title": product.title,
        "handle": product.handle,
        "status": str(product.status),
        "updated_fields": sorted(set(updated_fields)),
    }


def record_product_updated(
    session: AsyncSession,
    product: Product,
    updated_fields: Iterable[str],
    *,
    variant_change: str | None = None,
    variant_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> None:
    """``variant_change`` (created, updated or deleted) and ``variant_ids`` describe a bulk
    variant operation."""
    payload = product_payload(product, updated_fields)
    if variant_change is not None:
        payload["variant_change"] = variant_change
        payload["variant_ids"] = [int(i) for i in variant_ids]
    record_event(
        session, Topic.PRODUCTS_UPDATED, product.shop_id, payload, occurred_at=now or utcnow()
    )
