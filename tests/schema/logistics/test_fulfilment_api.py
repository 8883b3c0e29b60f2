"""Shipping orders through HTTP: parcels from several warehouses, their carrier timelines, the
order's fulfilment status derived from them, and every refusal leaving nothing behind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.trade.order_models import OrderAllocation, OrderLine, PaymentMethod
from tests.support.clock import MutableClock
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.shipping import carrier_event, make_carrier, order_lines
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

FULFIL = """mutation($i: OrderFulfillInput!) { orderFulfill(input: $i) {
  shipment { trackingNumber status carrier { code } lines { orderLineId quantity } }
  order { fulfillmentStatus } replayed errors { field code } } }"""
ORDER = """query($id: ID!) { order(id: $id) {
  status paymentStatus fulfillmentStatus
  lines { fulfilledQuantity variant { inventoryLevels { onHand reserved warehouse { id } } } }
  shipments { carrier { name } trackingNumber trackingUrl status estimatedDelivery
    events { status occurredAt location } } } }"""
CANCEL = "mutation($id: ID!) { orderCancel(id: $id) { order { status } errors { code } } }"
MARK_PAID = "mutation($id: ID!) { orderMarkPaid(id: $id) { order { status paymentStatus } errors { code } } }"


@dataclass
class Desk:
    """The shop's back office: a business user's calls, and the carrier's webhook deliveries."""

    world: World
    gql: GraphQLClient
    http: httpx.AsyncClient
    clock: MutableClock
    staff: int
    carrier: tuple[str, str]

    async def call(self, query: str, **variables: Any) -> Any:
        token = self.world.services.tokens.issue(f"user:{self.staff}")  # the clock moves
        return (await self.gql(query, variables, shop=self.world.handle, token=token)).ok()

    async def fulfil(
        self, order: int, lines: list[tuple[int, int]], warehouse: int, **overrides: Any
    ) -> dict[str, Any]:
        fields = {
            "orderId": gid("Order", order),
            "lines": [{"lineId": gid("OrderLine", ln), "quantity": n} for ln, n in lines],
            "warehouseId": gid("Warehouse", warehouse),
            "carrierCode": self.carrier[0],
            "trackingNumber": f"TN{uuid.uuid4().hex[:12].upper()}",
            "idempotencyKey": uuid.uuid4().hex,
            **overrides,
        }
        return (await self.call(FULFIL, i=fields))["orderFulfill"]  # type: ignore[no-any-return]

    async def order(self, order: int) -> dict[str, Any]:
        return (await self.call(ORDER, id=gid("Order", order)))["order"]  # type: ignore[no-any-return]

    async def carrier_says(self, tracking: str, status: str, **extra: Any) -> int:
        """A minute passes; the carrier reports what happened half a minute ago."""
        self.clock.advance(60)
        code, secret = self.carrier
        path, body, headers = carrier_event(
            code,
            secret,
            tracking_number=tracking,
            status=status,
            occurred_at=self.clock() - timedelta(seconds=30),
            timestamp=int(self.clock().timestamp()),
            **extra,
        )
        return (await self.http.post(path, content=body, headers=headers)).status_code


@pytest.fixture
async def desk(
    world: World, gql: GraphQLClient, http: httpx.AsyncClient, clock: MutableClock
) -> Desk:
    staff, _ = await world.user("business")
    return Desk(world, gql, http, clock, staff, await make_carrier(world))


async def _stocked_at(world: World, order: int) -> tuple[int, int]:
    """The order's (variant, warehouse holding its reservation)."""
    async with world.services.db.reader() as session:
        row = (
            await session.execute(
                select(OrderLine.variant_id, OrderAllocation.warehouse_id)
                .join(OrderAllocation, OrderAllocation.line_id == OrderLine.id)
                .where(OrderLine.order_id == order)
            )
        ).one()
    return int(row[0]), int(row[1])


def _stock(order: dict[str, Any]) -> dict[str, tuple[int, int]]:
    levels = order["lines"][0]["variant"]["inventoryLevels"]
    return {lv["warehouse"]["id"]: (lv["onHand"], lv["reserved"]) for lv in levels}


async def test_a_paid_order_ships_in_two_parcels_from_two_warehouses_and_completes(
    desk: Desk, world: World
) -> None:
    order = await place_order(world, paid=True, quantity=4)
    [(line, _)] = await order_lines(world, order)
    variant, first = await _stocked_at(world, order)
    second = await world.warehouse()
    await world.stock(variant, second, 3)
    w1, w2 = gid("Warehouse", first), gid("Warehouse", second)
    before = await desk.order(order)
    assert before["fulfillmentStatus"] == "UNFULFILLED"
    assert _stock(before) == {w1: (10, 4), w2: (3, 0)}

    parcel_a = await desk.fulfil(order, [(line, 2)], first)
    assert parcel_a["errors"] == []
    assert parcel_a["shipment"]["status"] == "LABEL_CREATED"
    assert parcel_a["shipment"]["lines"] == [{"orderLineId": gid("OrderLine", line), "quantity": 2}]
    assert parcel_a["order"]["fulfillmentStatus"] == "PARTIALLY_FULFILLED"
    parcel_b = await desk.fulfil(order, [(line, 2)], second)
    assert parcel_b["errors"] == []
    assert parcel_b["order"]["fulfillmentStatus"] == "FULFILLED"
    shipped = await desk.order(order)
    # The second parcel left the other warehouse: the reservation moved, nothing counted twice.
    assert _stock(shipped) == {w1: (8, 0), w2: (1, 0)}
    assert shipped["lines"][0]["fulfilledQuantity"] == 4

    a, b = parcel_a["shipment"]["trackingNumber"], parcel_b["shipment"]["trackingNumber"]
    eta = (desk.clock() + timedelta(days=2)).replace(microsecond=0)
    for tracking in (a, b):
        assert await desk.carrier_says(tracking, "PU", location="Hub Berlin") == 200
    for code in ("TR", "OD"):
        for tracking in (a, b):
            extra = {"estimated_delivery": eta.isoformat()} if code == "TR" else {}
            assert await desk.carrier_says(tracking, code, **extra) == 200
    assert await desk.carrier_says(a, "OK", location="Berlin") == 200
    half = await desk.order(order)
    assert (half["fulfillmentStatus"], half["status"]) == ("FULFILLED", "OPEN")
    assert await desk.carrier_says(b, "OK", location="Berlin") == 200

    done = await desk.order(order)
    assert (done["fulfillmentStatus"], done["status"]) == ("DELIVERED", "COMPLETED")
    assert [s["trackingNumber"] for s in done["shipments"]] == [a, b]
    steps = ["LABEL_CREATED", "PICKED_UP", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
    for shipment in done["shipments"]:
        assert shipment["carrier"]["name"] == f"Carrier {desk.carrier[0]}"
        assert shipment["trackingUrl"] == f"https://track.example/{shipment['trackingNumber']}"
        assert shipment["status"] == "DELIVERED"
        assert datetime.fromisoformat(shipment["estimatedDelivery"]) == eta
        events = shipment["events"]
        assert [e["status"] for e in events] == steps
        times = [datetime.fromisoformat(e["occurredAt"]) for e in events]
        assert times == sorted(times)
        assert (events[1]["location"], events[-1]["location"]) == ("Hub Berlin", "Berlin")
    assert _stock(done) == {w1: (8, 0), w2: (1, 0)}


async def test_cash_on_delivery_ships_unpaid_and_completes_only_once_marked_paid(
    desk: Desk, world: World
) -> None:
    order = await place_order(world, method=PaymentMethod.CASH_ON_DELIVERY)
    [(line, quantity)] = await order_lines(world, order)
    _, warehouse = await _stocked_at(world, order)
    parcel = await desk.fulfil(order, [(line, quantity)], warehouse)
    assert parcel["errors"] == []
    assert await desk.carrier_says(parcel["shipment"]["trackingNumber"], "OK") == 200

    delivered = await desk.order(order)
    assert (delivered["fulfillmentStatus"], delivered["paymentStatus"]) == ("DELIVERED", "UNPAID")
    assert delivered["status"] == "OPEN"
    paid = (await desk.call(MARK_PAID, id=gid("Order", order)))["orderMarkPaid"]
    assert paid["errors"] == []
    assert paid["order"] == {"status": "COMPLETED", "paymentStatus": "PAID"}


# --- Refusals: each leaves the order, its parcels and the stock exactly as they were. ---


@dataclass
class Ready:
    order: int
    line: int
    quantity: int
    warehouse: int


@pytest.fixture
async def ready(world: World) -> Ready:
    order = await place_order(world, paid=True, quantity=3)
    [(line, quantity)] = await order_lines(world, order)
    _, warehouse = await _stocked_at(world, order)
    return Ready(order, line, quantity, warehouse)


async def _state(desk: Desk, order: int) -> tuple[Any, ...]:
    seen = await desk.order(order)
    return (
        seen["fulfillmentStatus"],
        [ln["fulfilledQuantity"] for ln in seen["lines"]],
        _stock(seen),
        len(seen["shipments"]),
    )


def _codes(payload: dict[str, Any]) -> list[str]:
    assert payload["shipment"] is None
    return [e["code"] for e in payload["errors"]]


async def test_shipping_more_than_was_ordered_is_refused(desk: Desk, ready: Ready) -> None:
    before = await _state(desk, ready.order)
    refused = await desk.fulfil(ready.order, [(ready.line, ready.quantity + 1)], ready.warehouse)
    assert _codes(refused) == ["FULFILMENT_EXCEEDS_ORDER"]
    assert refused["errors"][0]["field"] == ["lines", "0", "quantity"]
    assert await _state(desk, ready.order) == before
    # What is left to ship still ships; then nothing more does.
    assert (await desk.fulfil(ready.order, [(ready.line, 2)], ready.warehouse))["errors"] == []
    again = await desk.fulfil(ready.order, [(ready.line, 2)], ready.warehouse)
    assert _codes(again) == ["FULFILMENT_EXCEEDS_ORDER"]
    assert (await _state(desk, ready.order))[1] == [2]


async def test_a_line_of_another_order_is_not_found(desk: Desk, world: World, ready: Ready) -> None:
    other = await place_order(world, paid=True)
    [(foreign, _)] = await order_lines(world, other)
    before = await _state(desk, ready.order), await _state(desk, other)
    refused = await desk.fulfil(ready.order, [(foreign, 1)], ready.warehouse)
    assert _codes(refused) == ["NOT_FOUND"]
    assert refused["errors"][0]["field"] == ["lines", "0", "lineId"]
    assert (await _state(desk, ready.order), await _state(desk, other)) == before


async def test_another_shops_order_and_warehouse_are_not_found(
    desk: Desk, ready: Ready, other_world: World
) -> None:
    foreign_order = await place_order(other_world, paid=True)
    [(foreign_line, _)] = await order_lines(other_world, foreign_order)
    before = await _state(desk, ready.order)
    refused = await desk.fulfil(foreign_order, [(foreign_line, 1)], ready.warehouse)
    assert _codes(refused) == ["NOT_FOUND"]
    elsewhere = await desk.fulfil(ready.order, [(ready.line, 1)], await other_world.warehouse())
    assert _codes(elsewhere) == ["NOT_FOUND"]
    assert elsewhere["errors"][0]["field"] == ["warehouseId"]
    assert await _state(desk, ready.order) == before


async def test_an_unpaid_bank_transfer_order_does_not_ship_until_paid(
    desk: Desk, world: World
) -> None:
    order = await place_order(world, method=PaymentMethod.BANK_TRANSFER)
    [(line, quantity)] = await order_lines(world, order)
    _, warehouse = await _stocked_at(world, order)
    before = await _state(desk, order)
    key = uuid.uuid4().hex
    refused = await desk.fulfil(order, [(line, quantity)], warehouse, idempotencyKey=key)
    assert _codes(refused) == ["NOT_PAID"]
    assert await _state(desk, order) == before
    # The refusal did not use up the key: once paid, the same request ships.
    assert (await desk.call(MARK_PAID, id=gid("Order", order)))["orderMarkPaid"]["errors"] == []
    shipped = await desk.fulfil(order, [(line, quantity)], warehouse, idempotencyKey=key)
    assert (shipped["errors"], shipped["replayed"]) == ([], False)


async def test_an_unknown_or_inactive_carrier_is_refused(
    desk: Desk, ready: Ready, gql: GraphQLClient, world: World
) -> None:
    before = await _state(desk, ready.order)
    unknown = await desk.fulfil(
        ready.order, [(ready.line, 1)], ready.warehouse, carrierCode="no-such-carrier"
    )
    assert _codes(unknown) == ["UNKNOWN_CARRIER"]
    code, _ = await make_carrier(world)
    _, ops = await world.user("ops", domain="platform")
    carriers = (await gql("{ carriers { id code } }", shop=world.handle, token=ops)).ok()
    [carrier_id] = [c["id"] for c in carriers["carriers"] if c["code"] == code]
    update = """mutation($id: ID!, $c: String!) { carrierUpdate(id: $id, input: {code: $c,
      name: "Gone", trackingUrlTemplate: "https://t.example/{tracking_number}", statusMap: [],
      active: false}) { errors { code } } }"""
    result = await gql(update, {"id": carrier_id, "c": code}, shop=world.handle, token=ops)
    assert result.ok()["carrierUpdate"]["errors"] == []
    inactive = await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse, carrierCode=code)
    assert _codes(inactive) == ["UNKNOWN_CARRIER"]
    assert await _state(desk, ready.order) == before


async def test_a_warehouse_without_the_units_is_refused(
    desk: Desk, world: World, ready: Ready
) -> None:
    before = await _state(desk, ready.order)
    empty = await desk.fulfil(ready.order, [(ready.line, 1)], await world.warehouse())
    assert _codes(empty) == ["INSUFFICIENT_STOCK"]
    assert await _state(desk, ready.order) == before


async def test_a_tracking_number_the_carrier_already_uses_is_refused(
    desk: Desk, world: World, ready: Ready
) -> None:
    first = await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse)
    tracking = first["shipment"]["trackingNumber"]
    before = await _state(desk, ready.order)
    refused = await desk.fulfil(
        ready.order, [(ready.line, 1)], ready.warehouse, trackingNumber=tracking
    )
    assert _codes(refused) == ["DUPLICATE_TRACKING_NUMBER"]
    assert refused["errors"][0]["field"] == ["trackingNumber"]
    assert await _state(desk, ready.order) == before
    # Another carrier may use the same number.
    other, _ = await make_carrier(world)
    fine = await desk.fulfil(
        ready.order, [(ready.line, 1)], ready.warehouse, trackingNumber=tracking, carrierCode=other
    )
    assert fine["errors"] == []


async def test_a_retried_fulfilment_ships_once_and_a_reused_key_is_refused(
    desk: Desk, ready: Ready
) -> None:
    key, tracking = uuid.uuid4().hex, f"TN{uuid.uuid4().hex[:10]}"
    request = {"idempotencyKey": key, "trackingNumber": tracking}
    first = await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse, **request)
    replay = await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse, **request)
    assert (first["replayed"], replay["replayed"]) == (False, True)
    assert replay["shipment"] == first["shipment"]
    after = await _state(desk, ready.order)
    assert (after[1], after[3]) == ([1], 1)
    other = await desk.fulfil(ready.order, [(ready.line, 2)], ready.warehouse, **request)
    assert _codes(other) == ["IDEMPOTENCY_CONFLICT"]
    assert await _state(desk, ready.order) == after


async def test_a_cancelled_order_does_not_ship_and_a_shipped_one_cannot_be_cancelled(
    desk: Desk, world: World, ready: Ready
) -> None:
    cancelled = await place_order(world, paid=True)
    [(line, quantity)] = await order_lines(world, cancelled)
    _, warehouse = await _stocked_at(world, cancelled)
    assert (await desk.call(CANCEL, id=gid("Order", cancelled)))["orderCancel"]["errors"] == []
    before = await _state(desk, cancelled)
    refused = await desk.fulfil(cancelled, [(line, quantity)], warehouse)
    assert _codes(refused) == ["ORDER_CLOSED"]
    assert await _state(desk, cancelled) == before

    assert (await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse))["errors"] == []
    shipped = await _state(desk, ready.order)
    answer = (await desk.call(CANCEL, id=gid("Order", ready.order)))["orderCancel"]
    assert [e["code"] for e in answer["errors"]] == ["ORDER_NOT_CANCELLABLE"]
    assert await _state(desk, ready.order) == shipped
    assert (await desk.order(ready.order))["status"] == "OPEN"


async def test_a_cancelled_label_gives_its_units_back_to_ship(desk: Desk, ready: Ready) -> None:
    """Two parcels; the carrier voids the second label, the first arrives. The buyer lacks a
    unit: the order is neither delivered nor completed, and the shop can send the unit again."""
    kept = await desk.fulfil(ready.order, [(ready.line, ready.quantity - 1)], ready.warehouse)
    voided = await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse)
    assert await desk.carrier_says(voided["shipment"]["trackingNumber"], "CX") == 200
    assert await desk.carrier_says(kept["shipment"]["trackingNumber"], "OK") == 200
    seen = await desk.order(ready.order)
    assert [s["status"] for s in seen["shipments"]] == ["DELIVERED", "CANCELLED"]
    assert (seen["fulfillmentStatus"], seen["status"]) == ("PARTIALLY_FULFILLED", "OPEN")
    assert seen["lines"][0]["fulfilledQuantity"] == ready.quantity - 1
    again = await desk.fulfil(ready.order, [(ready.line, 1)], ready.warehouse)
    assert again["errors"] == []
