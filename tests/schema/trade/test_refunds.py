"""Refunds through HTTP as the shop's staff: by amount or by lines, never more than was paid or
bought, once per idempotency key, and never over the paid amount even when asked for at once.
Manual (bank transfer) payments are refunded by hand, so their refunds succeed immediately."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from app.trade.order_models import Order
from app.trade.payment_models import Refund
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

REFUND = """mutation($i: RefundCreateInput!) { refundCreate(input: $i) {
  refund { id amount { amount currencyCode } status lines { lineId quantity } }
  order { paymentStatus cost { paid { amount } refunded { amount } } lines { refundedQuantity } }
  replayed errors { field code message } } }"""
READ = """query($id: ID!) { order(id: $id) { paymentStatus cost { paid { amount } refunded { amount } }
  lines { id quantity refundedQuantity } refunds { status amount { amount } } events { kind } } }"""
TEN_EUROS = "5.05"  # plus 4.95 shipping: a 10.00 order


async def _staff(world: World) -> str:
    return (await world.user("business"))[1]


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "EUR"}


async def _refund(gql: GraphQLClient, world: World, token: str, order: int, **input: Any) -> Any:
    spec = {"orderId": gid("Order", order), "idempotencyKey": "r-1", **input}
    return (await gql(REFUND, {"i": spec}, shop=world.handle, token=token)).ok()["refundCreate"]


async def _read(gql: GraphQLClient, world: World, token: str, order: int) -> Any:
    result = await gql(READ, {"id": gid("Order", order)}, shop=world.handle, token=token)
    return result.ok()["order"]


async def _money(world: World, order: int) -> tuple[int, int, int, int]:
    """(paid, reserved for refunds, refunded, refund rows) as stored."""
    async with world.services.db.reader() as session:
        row = await session.get(Order, order)
        count = await session.scalar(
            select(func.count()).select_from(Refund).where(Refund.order_id == order)
        )
    assert row is not None
    return row.paid_amount, row.refund_reserved, row.refunded_amount, int(count or 0)


def _codes(payload: Any) -> list[str]:
    assert payload["refund"] is None, payload
    return [e["code"] for e in payload["errors"]]


async def test_a_partial_refund_by_amount(world: World, gql: GraphQLClient) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)

    payload = await _refund(gql, world, token, order, amount=_eur("3.00"), reason="scratched")

    assert payload["errors"] == []
    assert payload["replayed"] is False
    assert payload["refund"]["amount"] == {"amount": "3.00", "currencyCode": "EUR"}
    assert payload["refund"]["status"] == "SUCCEEDED"
    assert payload["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert payload["order"]["cost"] == {"paid": {"amount": "10.00"}, "refunded": {"amount": "3.00"}}
    assert await _money(world, order) == (1000, 300, 300, 1)
    events = [e["kind"] for e in (await _read(gql, world, token, order))["events"]]
    assert events[-2:] == ["REFUND_REQUESTED", "REFUNDED"]


async def test_a_refund_by_lines_counts_the_units_given_back(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price="10.00", quantity=3, paid=True)
    [line] = (await _read(gql, world, token, order))["lines"]

    one = await _refund(gql, world, token, order, lines=[{"lineId": line["id"], "quantity": 1}])
    too_many = await _refund(
        gql,
        world,
        token,
        order,
        lines=[{"lineId": line["id"], "quantity": 3}],
        idempotencyKey="r-2",
    )

    assert one["errors"] == []
    assert one["refund"]["amount"]["amount"] == "10.00"
    assert one["refund"]["lines"] == [{"lineId": line["id"], "quantity": 1}]
    assert one["order"]["lines"] == [{"refundedQuantity": 1}]
    assert _codes(too_many) == ["REFUND_EXCEEDS_QUANTITY"]
    assert too_many["errors"][0]["field"] == ["lines", "0", "quantity"]
    after = await _read(gql, world, token, order)
    assert after["lines"][0]["refundedQuantity"] == 1
    assert after["cost"]["refunded"] == {"amount": "10.00"}
    assert await _money(world, order) == (3495, 1000, 1000, 1)

    rest = await _refund(
        gql,
        world,
        token,
        order,
        lines=[{"lineId": line["id"], "quantity": 2}],
        idempotencyKey="r-3",
    )
    assert rest["order"]["lines"] == [{"refundedQuantity": 3}]
    assert rest["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"  # shipping is still paid


async def test_more_than_was_paid_is_refused_and_nothing_changes(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)

    payload = await _refund(gql, world, token, order, amount=_eur("10.01"))

    assert _codes(payload) == ["REFUND_EXCEEDS_PAID"]
    assert await _money(world, order) == (1000, 0, 0, 0)
    assert (await _read(gql, world, token, order))["paymentStatus"] == "PAID"


async def test_an_unpaid_order_cannot_be_refunded(world: World, gql: GraphQLClient) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS)

    payload = await _refund(gql, world, token, order, amount=_eur("1.00"))

    assert _codes(payload) == ["NOT_PAID"]
    assert await _money(world, order) == (0, 0, 0, 0)


async def test_a_replayed_key_returns_the_first_refund_and_other_input_conflicts(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)

    first = await _refund(gql, world, token, order, amount=_eur("2.00"), idempotencyKey="same")
    again = await _refund(gql, world, token, order, amount=_eur("2.00"), idempotencyKey="same")
    other = await _refund(gql, world, token, order, amount=_eur("2.50"), idempotencyKey="same")

    assert (first["replayed"], again["replayed"]) == (False, True)
    assert again["refund"] == first["refund"]
    assert _codes(other) == ["IDEMPOTENCY_CONFLICT"]
    assert other["errors"][0]["field"] == ["idempotencyKey"]
    assert await _money(world, order) == (1000, 200, 200, 1)


async def test_ten_concurrent_refunds_of_thirty_percent_never_pass_what_was_paid(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)

    payloads = await asyncio.gather(
        *(
            _refund(gql, world, token, order, amount=_eur("3.00"), idempotencyKey=f"c-{i}")
            for i in range(10)
        )
    )

    succeeded = [p for p in payloads if p["refund"] is not None]
    assert len(succeeded) == 3
    assert all(p["refund"]["status"] == "SUCCEEDED" for p in succeeded)
    assert (
        sorted(_codes(p)[0] for p in payloads if p["refund"] is None) == ["REFUND_EXCEEDS_PAID"] * 7
    )
    paid, reserved, refunded, rows = await _money(world, order)
    assert (paid, reserved, refunded, rows) == (1000, 900, 900, 3)
    after = await _read(gql, world, token, order)
    assert after["cost"]["refunded"] == {"amount": "9.00"}
    assert after["paymentStatus"] == "PARTIALLY_REFUNDED"


async def test_one_key_sent_five_times_at_once_refunds_once(
    world: World, gql: GraphQLClient
) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)

    payloads = await asyncio.gather(
        *(
            _refund(gql, world, token, order, amount=_eur("2.00"), idempotencyKey="twice")
            for _ in range(5)
        )
    )

    assert all(p["errors"] == [] for p in payloads), payloads
    assert len({p["refund"]["id"] for p in payloads}) == 1
    assert sorted(p["replayed"] for p in payloads) == [False, True, True, True, True]
    assert await _money(world, order) == (1000, 200, 200, 1)


async def test_a_full_refund_leaves_the_order_refunded(world: World, gql: GraphQLClient) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)
    await _refund(gql, world, token, order, amount=_eur("4.00"), idempotencyKey="part")

    payload = await _refund(gql, world, token, order, amount=_eur("6.00"), idempotencyKey="rest")

    assert payload["errors"] == []
    assert payload["order"]["paymentStatus"] == "REFUNDED"
    assert payload["order"]["cost"]["refunded"] == {"amount": "10.00"}
    refunds = (await _read(gql, world, token, order))["refunds"]
    assert [(r["status"], r["amount"]["amount"]) for r in refunds] == [
        ("SUCCEEDED", "4.00"),
        ("SUCCEEDED", "6.00"),
    ]
    assert await _money(world, order) == (1000, 1000, 1000, 2)


@pytest.mark.parametrize(
    ("extra", "code"),
    [
        ({"amount": {"amount": "1.00", "currencyCode": "USD"}}, "CURRENCY_MISMATCH"),
        ({"amount": {"amount": "0.00", "currencyCode": "EUR"}}, "INVALID"),
        ({"amount": {"amount": "1.001", "currencyCode": "EUR"}}, "INVALID"),
        ({}, "INVALID"),
        ({"amount": {"amount": "1.00", "currencyCode": "EUR"}, "lines": "LINE"}, "INVALID"),
        ({"lines": [{"lineId": "LINE", "quantity": 0}]}, "INVALID_QUANTITY"),
        ({"lines": [{"lineId": "OTHER", "quantity": 1}]}, "NOT_FOUND"),
        (
            {"amount": {"amount": "1.00", "currencyCode": "EUR"}, "idempotencyKey": "k" * 201},
            "INVALID",
        ),
    ],
)
async def test_a_malformed_refund_is_refused(
    world: World, gql: GraphQLClient, extra: dict[str, Any], code: str
) -> None:
    token = await _staff(world)
    order = await place_order(world, price=TEN_EUROS, paid=True)
    other = await place_order(world, price=TEN_EUROS, paid=True)
    [line] = (await _read(gql, world, token, order))["lines"]
    [foreign] = (await _read(gql, world, token, other))["lines"]
    ids = {"LINE": line["id"], "OTHER": foreign["id"]}
    if extra.get("lines") == "LINE":
        extra = {**extra, "lines": [{"lineId": "LINE", "quantity": 1}]}
    if "lines" in extra:
        extra = {**extra, "lines": [{**i, "lineId": ids[i["lineId"]]} for i in extra["lines"]]}

    payload = await _refund(gql, world, token, order, **extra)

    assert _codes(payload) == [code]
    assert await _money(world, order) == (1000, 0, 0, 0)


async def test_a_shopper_cannot_refund(world: World, gql: GraphQLClient) -> None:
    buyer_id, buyer = await world.user("shopper")
    order = await place_order(world, price=TEN_EUROS, paid=True, user_id=buyer_id)

    spec = {"orderId": gid("Order", order), "idempotencyKey": "x", "amount": _eur("1.00")}
    result = await gql(REFUND, {"i": spec}, shop=world.handle, token=buyer)

    assert result.codes == ["FORBIDDEN"]
    assert await _money(world, order) == (1000, 0, 0, 0)
