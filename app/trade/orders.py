"""Reading orders: the back office's filtered list, a shopper's own, and bulk relation reads.

Lists are keyset pages, newest first. Every relation (lines, payments, refunds, events) is read
for a whole page in one statement, so a page of 50 costs what a page of 10 does.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.contact import PersonalDataCipher
from app.pagination import KeysetOrder
from app.trade.buyer import email_index
from app.trade.order_models import (
    FulfillmentStatus,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentStatus,
)
from app.trade.payment_models import Payment, Refund

__all__ = [
    "ORDER_ORDER",
    "OrderFilter",
    "events_by_order",
    "lines_by_order",
    "orders_by_id",
    "orders_query",
    "payments_by_order",
    "refunds_by_order",
]

_NUMBER = re.compile(r"^#?(\d{1,18})$")
MAX_ORDER_NUMBER = 2**31 - 1  # the column is a 32-bit integer


def _parse_time(value: Any) -> datetime:
    return datetime.fromisoformat(value)


ORDER_ORDER = KeysetOrder("created_at", Order.created_at, Order.id, True, _parse_time)


@dataclass(frozen=True, slots=True)
class OrderFilter:
    """Every field narrows the list. ``query`` is an order number (``1001`` or ``#1001``) or
    the buyer's exact email, found through its blind index."""

    status: OrderStatus | None = None
    payment_status: PaymentStatus | None = None
    fulfillment_status: FulfillmentStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    query: str | None = None


def orders_query(
    shop_id: int,
    spec: OrderFilter,
    cipher: PersonalDataCipher,
    *,
    user_id: int | None = None,
) -> Select[Any]:
    query = select(Order).where(Order.shop_id == shop_id)
    if user_id is not None:
        query = query.where(Order.user_id == user_id)
    for name in ("status", "payment_status", "fulfillment_status"):
        wanted = getattr(spec, name)
        if wanted is not None:
            query = query.where(getattr(Order, name) == wanted)
    if spec.created_from is not None:
        query = query.where(Order.created_at >= spec.created_from)
    if spec.created_to is not None:
        query = query.where(Order.created_at < spec.created_to)
    text = (spec.query or "").strip()
    if text:
        number = _NUMBER.match(text)
        if number and int(number.group(1)) <= MAX_ORDER_NUMBER:
            query = query.where(Order.number == int(number.group(1)))
        elif number:
            query = query.where(Order.id.is_(None))  # beyond any number a shop can reach
        elif "@" in text:
            query = query.where(Order.email_index == email_index(cipher, text))
        else:
            query = query.where(Order.id.is_(None))  # nothing else is searchable
    return query


async def orders_by_id(session: AsyncSession, shop_id: int, ids: Sequence[int]) -> dict[int, Order]:
    rows = await session.scalars(select(Order).where(Order.shop_id == shop_id, Order.id.in_(ids)))
    return {row.id: row for row in rows}


async def _grouped(
    session: AsyncSession, model: Any, order_ids: Sequence[int]
) -> dict[int, list[Any]]:
    rows = await session.scalars(
        select(model).where(model.order_id.in_(order_ids)).order_by(model.order_id, model.id)
    )
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in rows:
        grouped[row.order_id].append(row)
    return grouped


async def lines_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[OrderLine]]:
    return await _grouped(session, OrderLine, order_ids)


async def payments_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[Payment]]:
    return await _grouped(session, Payment, order_ids)


async def refunds_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[Refund]]:
    return await _grouped(session, Refund, order_ids)


async def events_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[OrderEvent]]:
    return await _grouped(session, OrderEvent, order_ids)
