"""Orders through GraphQL: the shop's list and actions, and a shopper's own orders.

``orders`` and the actions need the shop's ``order``/``refund`` permissions (the business role,
or an app with trade scopes). ``order(id)`` also answers the signed-in buyer for their own order,
and is null for anyone else, like an ID that never existed.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.money import MoneyError, parse_amount
from app.pagination import fetch_page
from app.trade import lifecycle, orders
from app.trade.errors import TradeErrorCode
from app.trade.order_models import FulfillmentStatus, OrderStatus, PaymentStatus
from app.trade.order_models import Order as OrderRow
from app.trade.payment_models import Refund as RefundRow
from app.trade.refund_flow import RefundCommand, create_refund
from app.trade.refunds import RefundLine
from schema.auditing import Audit, change_recorder, row_state
from schema.inputs import aware_filter_time
from schema.money import MoneyInput
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires
from schema.trade.common import TradeError, trade_errors
from schema.trade.order_types import (
    FulfillmentStatusEnum,
    Order,
    OrderStatusEnum,
    PaymentStatusEnum,
    Refund,
)
from schema.transactions import pk_or_refuse, write

__all__ = ["OrderFilter", "OrderMutation", "OrderQuery", "order_connection"]

ORDER_STATE = row_state(OrderRow)


@strawberry.input(description="Every field narrows the list; createdTo is exclusive.")
class OrderFilter:
    status: OrderStatusEnum | None = None  # type: ignore[valid-type]
    payment_status: PaymentStatusEnum | None = None  # type: ignore[valid-type]
    fulfillment_status: FulfillmentStatusEnum | None = None  # type: ignore[valid-type]
    created_from: datetime | None = None
    created_to: datetime | None = None
    query: str | None = strawberry.field(
        default=None, description='An order number ("1001" or "#1001") or the buyer\'s email.'
    )

    def to_filter(self) -> orders.OrderFilter:
        return orders.OrderFilter(
            status=OrderStatus(self.status) if self.status else None,
            payment_status=PaymentStatus(self.payment_status) if self.payment_status else None,
            fulfillment_status=(
                FulfillmentStatus(self.fulfillment_status) if self.fulfillment_status else None
            ),
            created_from=aware_filter_time(self.created_from, "createdFrom"),
            created_to=aware_filter_time(self.created_to, "createdTo"),
            query=self.query,
        )


async def order_connection(
    info: Info,
    spec: OrderFilter | None,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
    user_id: int | None = None,
) -> Connection[Order]:
    """A keyset page of the shop's orders (or one buyer's), newest first: one statement."""
    context = info.context
    codec = context.services.cursors
    cipher = context.services.trade.cipher
    request = page_request(
        codec, orders.ORDER_ORDER, first=first, after=after, last=last, before=before
    )
    query = orders.orders_query(
        context.require_shop().id,
        spec.to_filter() if spec else orders.OrderFilter(),
        cipher,
        user_id=user_id,
    )
    async with context.db.reader() as session:
        page = await fetch_page(session, query, orders.ORDER_ORDER, request)
    return connection(codec, orders.ORDER_ORDER, page, lambda row: Order.of(row, cipher))


def _order_pk(order_id: strawberry.ID, *field: str) -> int:
    return pk_or_refuse(order_id, "Order", TradeErrorCode.NOT_FOUND, *(field or ("id",)))


@strawberry.type
class OrderPayload:
    order: Order | None
    errors: list[TradeError]


@strawberry.type
class RefundPayload:
    refund: Refund | None
    order: Order | None
    replayed: bool
    errors: list[TradeError]


@strawberry.input
class RefundLineInput:
    line_id: strawberry.ID
    quantity: int


@strawberry.input(description="Give either lines (refunded at their price) or an amount.")
class RefundCreateInput:
    order_id: strawberry.ID
    lines: list[RefundLineInput] | None = None
    amount: MoneyInput | None = None
    reason: str = ""
    idempotency_key: str


async def _order_now(info: Info, pk: int) -> Order | None:
    async with info.context.db.reader() as session:
        row = await session.get(OrderRow, pk)
    return Order.of(row, info.context.services.trade.cipher) if row else None


def _actor(info: Info) -> str:
    principal = info.context.principal
    return principal.subject if principal else "anonymous"


def _refund_command(info: Info, input: RefundCreateInput) -> RefundCommand:
    shop = info.context.require_shop()
    amount = None
    if input.amount is not None:
        if input.amount.currency_code != shop.currency:
            raise DomainError.one(
                TradeErrorCode.CURRENCY_MISMATCH,
                f"This shop sells in {shop.currency}.",
                "input",
                "amount",
                "currencyCode",
            )
        try:
            amount = parse_amount(input.amount.amount, shop.currency)
        except MoneyError as error:
            raise DomainError.one(
                TradeErrorCode.INVALID, str(error), "input", "amount", "amount"
            ) from error
    lines = tuple(
        RefundLine(
            pk_or_refuse(
                line.line_id, "OrderLine", TradeErrorCode.NOT_FOUND, "input", "lines", str(i)
            ),
            line.quantity,
        )
        for i, line in enumerate(input.lines or [])
    )
    return RefundCommand(
        shop_id=shop.id,
        order_id=_order_pk(input.order_id, "input", "orderId"),
        amount=amount,
        lines=lines,
        reason=input.reason,
        key=input.idempotency_key,
        actor=_actor(info),
    )


@strawberry.type
class OrderQuery:
    @strawberry.field(
        description="An order of this shop for its staff, or the signed-in buyer's own; "
        "null for anyone else."
    )
    async def order(self, info: Info, id: strawberry.ID) -> Order | None:
        from schema.root import resolve_nodes

        found = (await resolve_nodes(info, [id]))[0]
        return found if isinstance(found, Order) else None

    @strawberry.field(
        extensions=requires("order", "read"),
        description="The shop's orders, newest first, keyset-paginated.",
    )
    async def orders(
        self,
        info: Info,
        filter: OrderFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Order]:
        return await order_connection(
            info, filter, first=first, after=after, last=last, before=before
        )


@strawberry.type
class OrderMutation:
    @strawberry.mutation(
        extensions=requires("order", "write"),
        description="Record a bank transfer or cash payment. A repeat changes nothing.",
    )
    async def order_mark_paid(self, info: Info, id: strawberry.ID) -> OrderPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> int:
            pk = _order_pk(id)
            await lifecycle.mark_order_paid(session, shop.id, pk, actor=_actor(info))
            return pk

        audit = Audit("Order", ORDER_STATE, target=lambda pk: pk, before=lambda: _order_pk(id))
        pk, error = await write(info, work, audit)
        return OrderPayload(
            order=await _order_now(info, pk) if pk else None, errors=trade_errors(error)
        )

    @strawberry.mutation(
        extensions=requires("order", "write"),
        description="Cancel an unshipped order: stock goes back, what was paid is refunded. "
        "A repeat changes nothing.",
    )
    async def order_cancel(
        self, info: Info, id: strawberry.ID, reason: str = ""
    ) -> OrderPayload | None:
        shop = info.context.require_shop()
        services = info.context.services.trade
        closings: list[lifecycle.Closing] = []

        async def work(session: AsyncSession) -> int:
            pk = _order_pk(id)
            closings.append(
                await lifecycle.cancel_order(
                    session, shop.id, pk, actor=_actor(info), reason=reason, now=services.clock()
                )
            )
            return pk

        audit = Audit("Order", ORDER_STATE, target=lambda pk: pk, before=lambda: _order_pk(id))
        pk, error = await write(info, work, audit)
        if closings and pk:
            await lifecycle.finish_closing(services, closings[0])
        return OrderPayload(
            order=await _order_now(info, pk) if pk else None, errors=trade_errors(error)
        )

    @strawberry.mutation(
        extensions=requires("refund", "write"),
        description="Refund by lines or by amount, through the order's payment provider. "
        "Never more than was paid; a replay with the same key returns the first refund.",
    )
    async def refund_create(self, info: Info, input: RefundCreateInput) -> RefundPayload | None:
        services = info.context.services.trade
        recorder = change_recorder(
            info, Audit("Refund", row_state(RefundRow), target=lambda pk: pk)
        )
        try:
            refund_id, replayed = await create_refund(
                services, _refund_command(info, input), on_opened=recorder
            )
        except DomainError as error:
            return RefundPayload(
                refund=None, order=None, replayed=False, errors=trade_errors(error)
            )
        async with info.context.db.reader() as session:
            row = await session.get(RefundRow, refund_id)
        assert row is not None
        return RefundPayload(
            refund=Refund.of(row),
            order=await _order_now(info, row.order_id),
            replayed=replayed,
            errors=[],
        )
