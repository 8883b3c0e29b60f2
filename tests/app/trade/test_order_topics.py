"""Order events in the outbox: orders/created, paid, cancelled and refunded are written in the
transaction of the change, once per change, with the order as apps see it; a refused or
rolled-back change writes nothing."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from app.errors import DomainError
from app.events.topics import Topic
from app.goods.inventory import AdjustmentReason, adjust_inventory
from app.goods.models import Variant
from app.trade import carts
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.lifecycle import expire_unpaid_orders
from app.trade.order_models import FulfillmentStatus, Order, OrderLine, PaymentMethod
from app.trade.payment_models import Payment
from app.trade.payment_outcomes import ProviderOutcome, apply_provider_outcome
from app.trade.payments import MANUAL
from app.trade.services import TradeServices
from app.trade.shipping import QuoteRequest, ShippingOption, ShippingQuoter
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.outbox_rows import outbox_rows, payloads, topics
from tests.support.trade import place_order, ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

ORDER_TOPICS = (
    Topic.ORDERS_CREATED,
    Topic.ORDERS_PAID,
    Topic.ORDERS_CANCELLED,
    Topic.ORDERS_REFUNDED,
)
MARK = "mutation($id: ID!) { orderMarkPaid(id: $id) { errors { code } } }"
CANCEL = """mutation($id: ID!) { orderCancel(id: $id, reason: "Customer asked") {
  order { status } errors { code } } }"""
REFUND = """mutation($i: RefundCreateInput!) { refundCreate(input: $i) {
  refund { id status } replayed errors { code } } }"""


def _eur(amount: int) -> dict[str, Any]:
    return {"amount": amount, "currency": "EUR"}


def _trade(world: World) -> TradeServices:
    return world.services.trade  # type: ignore[no-any-return]


async def _order_topics(world: World) -> list[str]:
    return [row.topic for row in await outbox_rows(world, *ORDER_TOPICS)]


async def _staff(world: World) -> str:
    return (await world.user("business"))[1]


async def _checkout(world: World, cart: int, trade: TradeServices | None = None) -> int:
    request = CheckoutRequest(
        shop_id=world.shop.id,
        cart_id=cart,
        user_id=None,
        method=PaymentMethod.BANK_TRANSFER,
        key=uuid.uuid4().hex,
    )
    return (await complete_checkout(trade or _trade(world), request)).order_id


async def _sku(world: World, variant: int) -> str:
    async with world.services.db.reader() as session:
        return str(await session.scalar(select(Variant.sku).where(Variant.id == variant)))


# --- orders/created ------------------------------------------------------------------------


async def test_checkout_writes_orders_created_with_the_order_and_its_lines(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, "12.50", units=10)
    cart = await ready_cart(world, variant, 2)

    order_id = await _checkout(world, cart)

    [row] = await outbox_rows(world)
    assert row.topic == Topic.ORDERS_CREATED.value
    assert row.shop_id == world.shop.id
    assert row.payload_version == 1
    async with world.services.db.reader() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    assert row.payload == {
        "order_id": order_id,
        "number": order.number,
        "status": "OPEN",
        "payment_status": "UNPAID",
        "fulfillment_status": "UNFULFILLED",
        "payment_method": "BANK_TRANSFER",
        "currency": "EUR",
        "subtotal": _eur(2500),
        "shipping": _eur(495),
        "total": _eur(2995),
        "paid": _eur(0),
        "refunded": _eur(0),
        "shipping_method_code": "standard",
        "line_count": 1,
        "lines": [
            {
                "variant_id": variant,
                "sku": await _sku(world, variant),
                "title": "Thing",
                "variant_title": "",
                "quantity": 2,
                "unit_price": _eur(1250),
                "total": _eur(2500),
            }
        ],
    }
    assert order.number >= 1001


async def test_a_checkout_refused_for_stock_writes_no_event(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=1)
    cart = await ready_cart(world, variant, 2)

    with pytest.raises(DomainError) as refused:
        await _checkout(world, cart)

    assert [p.code.value for p in refused.value.problems] == ["INSUFFICIENT_STOCK"]
    assert await topics(world) == []


@dataclasses.dataclass
class _DrainingQuoter:
    """Quotes like the real one, but first sells ``variant`` out from under the checkout: its
    stock goes in the window between validation and the checkout's transaction."""

    inner: ShippingQuoter
    world: World
    variant: int
    warehouse: int
    units: int

    async def quote(self, request: QuoteRequest) -> list[ShippingOption]:
        async with self.world.services.db.writer() as session, session.begin():
            await adjust_inventory(
                session,
                self.world.shop.id,
                variant_id=self.variant,
                warehouse_id=self.warehouse,
                delta=-self.units,
                reason=AdjustmentReason.DAMAGED,
                actor="test",
            )
        return await self.inner.quote(request)


async def test_a_checkout_rolled_back_mid_transaction_leaves_none_of_its_events(
    world: World,
) -> None:
    """The first line's reservation takes its stock below the threshold (an event in the
    transaction), the second line then finds no stock: the order and that event both vanish."""
    await ship_to(world)
    first = await stocked_variant(world, units=6)
    second = await world.product()
    async with world.services.db.reader() as session:
        second_variant = int(
            await session.scalar(select(Variant.id).where(Variant.product_id == second)) or 0
        )
    warehouse = await world.warehouse()
    await world.stock(second_variant, warehouse, 6)
    cart = await ready_cart(world, first, 2)
    async with world.services.db.writer() as session, session.begin():
        row = await carts.load_cart(session, world.shop.id, cart, None)
        await carts.add_lines(session, row, [carts.LineRequest(second_variant, 1)])
    trade = dataclasses.replace(
        _trade(world),
        quoter=_DrainingQuoter(_trade(world).quoter, world, second_variant, warehouse, 6),
    )

    with pytest.raises(DomainError) as refused:
        await _checkout(world, cart, trade)

    assert [p.code.value for p in refused.value.problems] == ["INSUFFICIENT_STOCK"]
    assert await _order_topics(world) == []
    # Only the drain's own adjustment (committed on its own) is there; the first line's
    # reservation rolled back with its event.
    [low] = await payloads(world, Topic.INVENTORY_BELOW_THRESHOLD)
    assert low["variant_id"] == second_variant
    assert low["available"] == 0


# --- orders/paid ---------------------------------------------------------------------------


async def test_marking_paid_writes_orders_paid_once(world: World, gql: GraphQLClient) -> None:
    token = await _staff(world)
    order = await place_order(world, price="5.05")

    for _ in range(2):
        result = await gql(MARK, {"id": gid("Order", order)}, shop=world.handle, token=token)
        assert result.ok()["orderMarkPaid"]["errors"] == []

    assert await _order_topics(world) == ["orders/created", "orders/paid"]
    [paid] = await payloads(world, Topic.ORDERS_PAID)
    assert paid["order_id"] == order
    assert paid["payment_status"] == "PAID"
    assert paid["status"] == "OPEN"
    assert paid["paid"] == paid["total"] == _eur(1000)
    assert "lines" not in paid  # no read of its own: the header only


async def test_a_provider_payment_writes_orders_paid_once_however_often_it_is_delivered(
    world: World,
) -> None:
    order = await place_order(world, price="5.05")
    async with world.services.db.reader() as session:
        payment = await session.scalar(select(Payment).where(Payment.order_id == order))
    assert payment is not None
    outcome = ProviderOutcome(
        provider=MANUAL,
        event_id=f"evt_{uuid.uuid4().hex}",
        kind="payment_intent.succeeded",
        succeeded=True,
        reference=f"pi_{uuid.uuid4().hex}",
        payment_id=payment.id,
        amount=payment.amount,
        currency=payment.currency,
    )
    for event_id in (outcome.event_id, outcome.event_id, f"evt_{uuid.uuid4().hex}"):
        async with world.services.db.writer() as session, session.begin():
            await apply_provider_outcome(session, dataclasses.replace(outcome, event_id=event_id))

    [paid] = await payloads(world, Topic.ORDERS_PAID)
    assert (paid["order_id"], paid["payment_status"], paid["paid"]) == (order, "PAID", _eur(1000))


async def test_a_failed_payment_writes_no_orders_paid(world: World) -> None:
    order = await place_order(world)
    async with world.services.db.reader() as session:
        payment = await session.scalar(select(Payment).where(Payment.order_id == order))
    assert payment is not None
    async with world.services.db.writer() as session, session.begin():
        await apply_provider_outcome(
            session,
            ProviderOutcome(
                provider=MANUAL,
                event_id=f"evt_{uuid.uuid4().hex}",
                kind="payment_intent.payment_failed",
                succeeded=False,
                reference=f"pi_{uuid.uuid4().hex}",
                payment_id=payment.id,
                amount=payment.amount,
                currency=payment.currency,
                message="declined",
            ),
        )

    assert await _order_topics(world) == ["orders/created"]


# --- orders/cancelled ----------------------------------------------------------------------


async def test_cancelling_writes_orders_cancelled_once(world: World, gql: GraphQLClient) -> None:
    token = await _staff(world)
    order = await place_order(world)

    for _ in range(2):
        result = await gql(CANCEL, {"id": gid("Order", order)}, shop=world.handle, token=token)
        assert result.ok()["orderCancel"]["errors"] == []

    assert await _order_topics(world) == ["orders/created", "orders/cancelled"]
    [cancelled] = await payloads(world, Topic.ORDERS_CANCELLED)
    assert cancelled["order_id"] == order
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["reason"] == "Customer asked"


async def test_a_paid_order_cancelled_is_refunded_and_says_so(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price="5.05", paid=True)

    result = await gql(CANCEL, {"id": gid("Order", order)}, shop=world.handle, token=token)
    assert result.ok()["orderCancel"]["errors"] == []

    assert await _order_topics(world) == [
        "orders/created",
        "orders/paid",
        "orders/cancelled",
        "orders/refunded",
    ]
    [refunded] = await payloads(world, Topic.ORDERS_REFUNDED)
    assert refunded["refund_amount"] == _eur(1000)
    assert refunded["payment_status"] == "REFUNDED"
    assert refunded["status"] == "CANCELLED"


async def test_an_order_that_cannot_be_cancelled_writes_nothing(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world)
    async with world.services.db.writer() as session, session.begin():
        await session.execute(
            update(Order)
            .where(Order.id == order)
            .values(fulfillment_status=FulfillmentStatus.FULFILLED)
        )

    result = await gql(CANCEL, {"id": gid("Order", order)}, shop=world.handle, token=token)

    assert [e["code"] for e in result.ok()["orderCancel"]["errors"]] == ["ORDER_NOT_CANCELLABLE"]
    assert await _order_topics(world) == ["orders/created"]


async def test_an_expired_order_writes_orders_cancelled_with_status_expired(world: World) -> None:
    order = await place_order(world)
    trade = _trade(world)
    async with world.services.db.writer() as session, session.begin():
        await session.execute(
            update(Order)
            .where(Order.id == order)
            .values(
                payment_method=PaymentMethod.STRIPE,
                expires_at=trade.clock() - timedelta(minutes=1),
            )
        )

    await expire_unpaid_orders(trade)
    await expire_unpaid_orders(trade)

    assert await _order_topics(world) == ["orders/created", "orders/cancelled"]
    [expired] = await payloads(world, Topic.ORDERS_CANCELLED)
    assert (expired["order_id"], expired["status"]) == (order, "EXPIRED")
    assert expired["payment_method"] == "STRIPE"


# --- orders/refunded -----------------------------------------------------------------------


async def _refund(
    gql: GraphQLClient, world: World, token: str, order: int, amount: str, key: str
) -> Any:
    spec = {
        "orderId": gid("Order", order),
        "amount": {"amount": amount, "currencyCode": "EUR"},
        "idempotencyKey": key,
        "reason": "scratched",
    }
    return (await gql(REFUND, {"i": spec}, shop=world.handle, token=token)).ok()["refundCreate"]


async def test_each_succeeded_refund_writes_orders_refunded_once(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price="5.05", paid=True)

    first = await _refund(gql, world, token, order, "3.00", "r-1")
    replay = await _refund(gql, world, token, order, "3.00", "r-1")
    second = await _refund(gql, world, token, order, "7.00", "r-2")
    too_much = await _refund(gql, world, token, order, "0.01", "r-3")

    assert first["refund"]["status"] == second["refund"]["status"] == "SUCCEEDED"
    assert replay["replayed"] is True
    assert [e["code"] for e in too_much["errors"]] == ["REFUND_EXCEEDS_PAID"]
    rows = await payloads(world, Topic.ORDERS_REFUNDED)
    async with world.services.db.reader() as session:
        lines = list(await session.scalars(select(OrderLine.id).where(OrderLine.order_id == order)))
    assert len(lines) == 1
    assert [
        (r["refund_amount"], r["refunded"], r["payment_status"], r["refund_reason"]) for r in rows
    ] == [
        (_eur(300), _eur(300), "PARTIALLY_REFUNDED", "scratched"),
        (_eur(700), _eur(1000), "REFUNDED", "scratched"),
    ]
    assert len({r["refund_id"] for r in rows}) == 2
    assert all(r["order_id"] == order for r in rows)
