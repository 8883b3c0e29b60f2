"""Shipment events in the outbox: shipments/created when an order ships, shipments/updated when a
carrier's word moves the parcel's status (and only then), each in the transaction of its change;
a refused fulfilment writes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.events.topics import Topic
from app.trade.order_models import OrderAllocation
from tests.support.factories import World
from tests.support.outbox_rows import outbox_rows, payloads
from tests.support.shipping import carrier_event, make_carrier, order_lines, ship
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

SHIPMENT_TOPICS = (Topic.SHIPMENTS_CREATED, Topic.SHIPMENTS_UPDATED)


async def _shipment_topics(world: World) -> list[str]:
    return [row.topic for row in await outbox_rows(world, *SHIPMENT_TOPICS)]


async def _warehouse_of(world: World, line: int) -> int:
    async with world.services.db.reader() as session:
        found = await session.scalar(
            select(OrderAllocation.warehouse_id).where(OrderAllocation.line_id == line)
        )
    assert found is not None
    return int(found)


class _Carrier:
    def __init__(self, http: httpx.AsyncClient, code: str, secret: str, tracking: str) -> None:
        self.http, self.code, self.secret, self.tracking = http, code, secret, tracking

    async def says(
        self, status: str, at: datetime, event_id: str | None = None, *, expect: int = 200
    ) -> httpx.Response:
        path, body, headers = carrier_event(
            self.code,
            self.secret,
            tracking_number=self.tracking,
            status=status,
            occurred_at=at,
            event_id=event_id,
        )
        answer = await self.http.post(path, content=body, headers=headers)
        assert answer.status_code == expect, answer.text
        return answer


async def _paid_order(world: World) -> tuple[int, int, list[tuple[int, int]]]:
    order = await place_order(world, paid=True, quantity=2)
    lines = await order_lines(world, order)
    return order, await _warehouse_of(world, lines[0][0]), lines


async def test_fulfilling_an_order_writes_shipments_created(world: World) -> None:
    code, _ = await make_carrier(world)
    order, warehouse, lines = await _paid_order(world)
    tracking = f"TN{uuid.uuid4().hex[:12].upper()}"

    shipment = await ship(world, order, warehouse, code, tracking, lines)

    [row] = await outbox_rows(world, *SHIPMENT_TOPICS)
    assert (row.topic, row.shop_id) == ("shipments/created", world.shop.id)
    payload = dict(row.payload)
    assert payload.pop("carrier_id") > 0
    assert payload.pop("status_at")
    assert payload == {
        "shipment_id": shipment,
        "order_id": order,
        "warehouse_id": warehouse,
        "status": "LABEL_CREATED",
        "carrier_code": code,
        "tracking_number": tracking,
        "tracking_url": f"https://track.example/{tracking}",
        "estimated_delivery": None,
        "delivered_at": None,
    }


async def test_shipments_updated_is_written_only_when_the_status_moves(
    world: World, http: httpx.AsyncClient
) -> None:
    code, secret = await make_carrier(world)
    order, warehouse, lines = await _paid_order(world)
    tracking = f"TN{uuid.uuid4().hex[:12].upper()}"
    shipment = await ship(world, order, warehouse, code, tracking, lines)
    carrier = _Carrier(http, code, secret, tracking)
    start = world.services.clock()

    picked_up = f"evt-{uuid.uuid4().hex}"
    await carrier.says("PU", start + timedelta(minutes=5), picked_up)
    await carrier.says("PU", start + timedelta(minutes=5), picked_up)  # delivered twice
    await carrier.says("PU", start + timedelta(minutes=6))  # the same status, later
    await carrier.says("ZZ", start + timedelta(minutes=7))  # a code nobody mapped
    await carrier.says("PU", start + timedelta(minutes=1))  # older than the status
    await carrier.says("OK", start + timedelta(minutes=30))
    await carrier.says("TR", start + timedelta(minutes=40), expect=409)  # after the end

    assert await _shipment_topics(world) == [
        "shipments/created",
        "shipments/updated",
        "shipments/updated",
    ]
    updates = await payloads(world, Topic.SHIPMENTS_UPDATED)
    assert [(u["previous_status"], u["status"]) for u in updates] == [
        ("LABEL_CREATED", "PICKED_UP"),
        ("PICKED_UP", "DELIVERED"),
    ]
    assert all(u["shipment_id"] == shipment and u["order_id"] == order for u in updates)
    assert all(u["carrier_code"] == code and u["tracking_number"] == tracking for u in updates)
    assert updates[0]["delivered_at"] is None
    assert updates[1]["delivered_at"] is not None


async def test_a_cancelled_parcel_is_an_update_and_its_stock_move_no_alert(
    world: World, http: httpx.AsyncClient
) -> None:
    code, secret = await make_carrier(world)
    order, warehouse, lines = await _paid_order(world)
    tracking = f"TN{uuid.uuid4().hex[:12].upper()}"
    await ship(world, order, warehouse, code, tracking, lines)

    await _Carrier(http, code, secret, tracking).says(
        "CX", world.services.clock() + timedelta(minutes=5)
    )

    assert [row.topic for row in await outbox_rows(world)] == [
        "orders/created",
        "orders/paid",
        "shipments/created",
        "shipments/updated",
    ]
    [cancelled] = await payloads(world, Topic.SHIPMENTS_UPDATED)
    assert (cancelled["previous_status"], cancelled["status"]) == ("LABEL_CREATED", "CANCELLED")


async def test_words_that_came_before_the_parcel_are_part_of_its_creation(
    world: World, http: httpx.AsyncClient
) -> None:
    code, secret = await make_carrier(world)
    order, warehouse, lines = await _paid_order(world)
    tracking = f"TN{uuid.uuid4().hex[:12].upper()}"
    await _Carrier(http, code, secret, tracking).says(
        "PU", world.services.clock() - timedelta(minutes=5), expect=202
    )

    await ship(world, order, warehouse, code, tracking, lines)

    assert await _shipment_topics(world) == ["shipments/created"]
    [created] = await payloads(world, Topic.SHIPMENTS_CREATED)
    assert created["status"] == "PICKED_UP"


async def test_a_refused_fulfilment_writes_no_event(world: World) -> None:
    code, _ = await make_carrier(world)
    order, warehouse, lines = await _paid_order(world)
    [(line, quantity)] = lines

    with pytest.raises(DomainError) as too_many:
        await ship(world, order, warehouse, code, "TN-1", [(line, quantity + 1)])
    with pytest.raises(DomainError) as unknown:
        await ship(world, order, warehouse, "no-such-carrier", "TN-2", lines)

    assert [p.code.value for p in too_many.value.problems] == ["FULFILMENT_EXCEEDS_ORDER"]
    assert [p.code.value for p in unknown.value.problems] == ["UNKNOWN_CARRIER"]
    assert await _shipment_topics(world) == []
