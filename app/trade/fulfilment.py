"""Trade's side of shipping: which units of an order leave which warehouse, and the order's
fulfilment status.

Logistics owns shipments but never writes trade's tables: it asks this module to count units as
shipped (refusing more than was ordered, lines of another order, and unpaid orders other than
cash on delivery) and to derive the order's fulfilment status from its shipments. Reserved stock
becomes shipped stock here: on hand and reserved drop together. When the parcel leaves a
warehouse other than the one holding the reservation, the reservation moves first, so the
units are never counted twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.goods.reservations import (
    Allocation,
    release_stock,
    reserve_at,
    return_shipped,
    ship_reserved,
)
from app.trade.completion import PAID, complete_and_record
from app.trade.errors import TradeErrorCode
from app.trade.history import OrderEventKind, record_event
from app.trade.lifecycle import shop_order
from app.trade.order_models import (
    FulfillmentStatus,
    Order,
    OrderAllocation,
    OrderLine,
    OrderStatus,
    PaymentMethod,
)

__all__ = ["FulfilmentLine", "fulfil_lines", "refresh_fulfilment_status", "unship_lines"]

SHIPPABLE_UNPAID = frozenset({PaymentMethod.CASH_ON_DELIVERY})


@dataclass(frozen=True, slots=True)
class FulfilmentLine:
    line_id: int
    quantity: int


def _check_payable(order: Order) -> None:
    if order.status is not OrderStatus.OPEN:
        raise DomainError.one(
            TradeErrorCode.ORDER_CLOSED, "A closed order does not ship.", "orderId"
        )
    if order.payment_method not in SHIPPABLE_UNPAID and order.payment_status not in PAID:
        raise DomainError.one(
            TradeErrorCode.NOT_PAID,
            "This order ships once it is paid; only cash on delivery ships unpaid.",
            "orderId",
        )


async def _count_shipped(
    session: AsyncSession, order: Order, lines: Sequence[FulfilmentLine]
) -> dict[int, OrderLine]:
    found = {
        row.id: row
        for row in await session.scalars(
            select(OrderLine).where(
                OrderLine.order_id == order.id, OrderLine.id.in_([r.line_id for r in lines])
            )
        )
    }
    problems: list[Problem] = []
    if not lines:
        problems.append(Problem(TradeErrorCode.INVALID, "Name at least one line.", ("lines",)))
    seen: set[int] = set()
    for index, request in enumerate(lines):
        field = ("lines", str(index))
        if request.line_id not in found:
            problems.append(
                Problem(TradeErrorCode.NOT_FOUND, "No such line in this order.", (*field, "lineId"))
            )
        elif request.line_id in seen:
            problems.append(Problem(TradeErrorCode.INVALID, "Each line once.", (*field, "lineId")))
        if request.quantity < 1:
            problems.append(
                Problem(TradeErrorCode.INVALID_QUANTITY, "At least 1.", (*field, "quantity"))
            )
        seen.add(request.line_id)
    if problems:
        raise DomainError(problems)
    for index, request in enumerate(lines):
        counted = await session.execute(
            update(OrderLine)
            .where(
                OrderLine.id == request.line_id,
                OrderLine.fulfilled_quantity + OrderLine.refunded_quantity + request.quantity
                <= OrderLine.quantity,
            )
            .values(fulfilled_quantity=OrderLine.fulfilled_quantity + request.quantity)
            .returning(OrderLine.id)
            .execution_options(synchronize_session=False)
        )
        if counted.first() is None:
            problems.append(
                Problem(
                    TradeErrorCode.FULFILMENT_EXCEEDS_ORDER,
                    "More units than are left to ship on this line.",
                    ("lines", str(index), "quantity"),
                )
            )
    if problems:
        raise DomainError(problems)
    return found


async def _ship_line(
    session: AsyncSession, line: OrderLine, warehouse_id: int, quantity: int, field: tuple[str, ...]
) -> None:
    held = list(
        await session.scalars(
            select(OrderAllocation)
            .where(OrderAllocation.line_id == line.id, OrderAllocation.released_at.is_(None))
            .order_by(OrderAllocation.id)
        )
    )
    need = quantity
    for allocation in (a for a in held if a.warehouse_id == warehouse_id and a.level_id):
        take = min(need, allocation.quantity - allocation.shipped_quantity)
        if take > 0 and await ship_reserved(session, allocation.level_id or 0, take):
            allocation.shipped_quantity += take
            need -= take
    if need == 0:
        return
    # The units are held elsewhere: hold them here instead, then let the other hold go.
    if (
        line.variant_id is None
        or (level_id := await reserve_at(session, line.variant_id, warehouse_id, need)) is None
    ):
        raise DomainError.one(
            TradeErrorCode.INSUFFICIENT_STOCK,
            f"This warehouse has not {need} free units of {line.sku}.",
            *field,
        )
    to_release = need
    for allocation in (a for a in held if a.warehouse_id != warehouse_id):
        take = min(to_release, allocation.quantity - allocation.shipped_quantity)
        if take <= 0:
            continue
        if allocation.level_id is not None:
            await release_stock(
                session, [Allocation(allocation.level_id, allocation.warehouse_id or 0, take)]
            )
        allocation.quantity -= take
        to_release -= take
        if allocation.quantity == 0:
            await session.execute(
                delete(OrderAllocation).where(OrderAllocation.id == allocation.id)
            )
    if not await ship_reserved(session, level_id, need):
        raise DomainError.one(TradeErrorCode.INSUFFICIENT_STOCK, "Stock moved; retry.", *field)
    session.add(
        OrderAllocation(
            line_id=line.id,
            level_id=level_id,
            warehouse_id=warehouse_id,
            quantity=need,
            shipped_quantity=need,
        )
    )


async def fulfil_lines(
    session: AsyncSession,
    shop_id: int,
    order_id: int,
    warehouse_id: int,
    lines: Sequence[FulfilmentLine],
) -> Order:
    """Count ``lines`` as shipped from ``warehouse_id``, in the caller's transaction."""
    order = await shop_order(session, shop_id, order_id)
    _check_payable(order)
    found = await _count_shipped(session, order, lines)
    for index, request in enumerate(lines):
        await _ship_line(
            session, found[request.line_id], warehouse_id, request.quantity, ("lines", str(index))
        )
    await session.flush()
    return order


async def unship_lines(
    session: AsyncSession, order_id: int, warehouse_id: int, lines: Sequence[FulfilmentLine]
) -> None:
    """A parcel was cancelled before it left: its units count as unshipped again and are held
    for the order in the warehouse they were to leave from, ready for another parcel."""
    for request in lines:
        await session.execute(
            update(OrderLine)
            .where(
                OrderLine.id == request.line_id,
                OrderLine.order_id == order_id,
                OrderLine.fulfilled_quantity >= request.quantity,
            )
            .values(fulfilled_quantity=OrderLine.fulfilled_quantity - request.quantity)
            .execution_options(synchronize_session=False)
        )
        left = request.quantity
        shipped = await session.scalars(
            select(OrderAllocation).where(
                OrderAllocation.line_id == request.line_id,
                OrderAllocation.warehouse_id == warehouse_id,
                OrderAllocation.shipped_quantity > 0,
            )
        )
        for allocation in shipped:
            take = min(left, allocation.shipped_quantity)
            allocation.shipped_quantity -= take
            if allocation.level_id is not None:
                await return_shipped(session, allocation.level_id, take)
            left -= take
            if left == 0:
                break
    await session.flush()


async def refresh_fulfilment_status(
    session: AsyncSession, order_id: int, *, all_shipments_delivered: bool
) -> FulfillmentStatus:
    """Derive the order's fulfilment status from what its shipments carry: nothing shipped,
    part of it, all of it (refunded units need not ship), or all of it delivered."""
    rows = (
        await session.execute(
            select(
                OrderLine.quantity, OrderLine.fulfilled_quantity, OrderLine.refunded_quantity
            ).where(OrderLine.order_id == order_id)
        )
    ).all()
    shipped = sum(f for _, f, _ in rows)
    complete = all(f + r >= q for q, f, r in rows)
    if shipped == 0:
        status = FulfillmentStatus.UNFULFILLED
    elif not complete:
        status = FulfillmentStatus.PARTIALLY_FULFILLED
    elif all_shipments_delivered:
        status = FulfillmentStatus.DELIVERED
    else:
        status = FulfillmentStatus.FULFILLED
    changed = await session.execute(
        update(Order)
        .where(Order.id == order_id, Order.fulfillment_status != status)
        .values(fulfillment_status=status)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if changed.first() is not None:
        await record_event(
            session, order_id, OrderEventKind.FULFILMENT_CHANGED, data={"status": status.value}
        )
    await complete_and_record(session, order_id)
    return status
