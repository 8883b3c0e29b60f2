"""Human-friendly order numbers: 1001, 1002, ... per shop, with no gaps from refused checkouts.

One upsert both creates a shop's counter and bumps it, and returns the new number. Checkout
takes it as its last write, after every reservation succeeded, so a checkout that fails never
burns a number and the counter's row lock is held only until the commit that follows.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_insert
from app.trade.order_models import OrderNumberCounter

__all__ = ["FIRST_ORDER_NUMBER", "next_order_number"]

FIRST_ORDER_NUMBER = 1001


async def next_order_number(session: AsyncSession, shop_id: int) -> int:
    statement = dialect_insert(session, OrderNumberCounter).values(
        shop_id=shop_id, last_number=FIRST_ORDER_NUMBER
    )
    statement = statement.on_conflict_do_update(
        index_elements=[OrderNumberCounter.shop_id],
        set_={"last_number": OrderNumberCounter.last_number + 1},
    ).returning(OrderNumberCounter.last_number)
    return int((await session.execute(statement)).scalar_one())
