"""Role-matrix rows for shipping zones and rates, for tests/schema/test_role_matrix.py.

Each builder makes what its call needs in the world's shop (through the services) and returns
a request that succeeds for ops, so an allowed cell proves the call did its work. Only ops,
a platform role, may read or change rate tables.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from app.goods.variants import PriceInput
from app.logistics.carriers import carrier_by_code
from app.logistics.models import RateBasis
from app.logistics.zones import RateDraft, ZoneDraft, create_rate, create_zone
from app.trade.order_models import OrderAllocation, OrderLine
from tests.support.factories import World, gid, unique
from tests.support.shipping import make_carrier, order_lines
from tests.support.trade import place_order

__all__ = [
    "LOGISTICS_ROWS",
    "shipping_rate_create",
    "shipping_rate_delete",
    "shipping_rate_update",
    "shipping_zone_create",
    "shipping_zone_delete",
    "shipping_zone_update",
    "shipping_zones",
]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]
OPS = frozenset({"ops"})


async def _zone_with_rate(world: World) -> tuple[str, str]:
    """A zone of the world's shop with one rate: (zone ID, rate ID)."""
    async with world.services.db.writer() as session, session.begin():
        zone = await create_zone(session, world.shop.id, ZoneDraft(unique("Zone"), ["DE"]))
        draft = RateDraft("standard", "Standard", RateBasis.WEIGHT, PriceInput("4.90", "EUR"))
        rate = await create_rate(session, world.shop, zone.id, draft)
    return gid("ShippingZone", zone.id), gid("ShippingRate", rate.id)


async def shipping_zones(world: World) -> Request:
    await _zone_with_rate(world)
    return "{ shippingZones { id rates { id } } }", {}


async def shipping_zone_create(world: World) -> Request:
    query = 'mutation($n: String!) { shippingZoneCreate(input: {name: $n, areas: ["DE", "AT"]}) { errors { code } } }'
    return query, {"n": unique("Zone")}


async def shipping_zone_update(world: World) -> Request:
    zone, _ = await _zone_with_rate(world)
    query = 'mutation($id: ID!, $n: String!) { shippingZoneUpdate(id: $id, input: {name: $n, areas: ["US-CA"]}) { errors { code } } }'
    return query, {"id": zone, "n": unique("Zone")}


async def shipping_zone_delete(world: World) -> Request:
    zone, _ = await _zone_with_rate(world)
    return "mutation($id: ID!) { shippingZoneDelete(id: $id) { errors { code } } }", {"id": zone}


async def shipping_rate_create(world: World) -> Request:
    zone, _ = await _zone_with_rate(world)
    query = 'mutation($z: ID!) { shippingRateCreate(zoneId: $z, input: {code: "express", name: "Express", basis: SUBTOTAL, price: {amount: "9.90", currencyCode: "EUR"}}) { errors { code } } }'
    return query, {"z": zone}


async def shipping_rate_update(world: World) -> Request:
    _, rate = await _zone_with_rate(world)
    query = 'mutation($id: ID!) { shippingRateUpdate(id: $id, input: {price: {amount: "5.90", currencyCode: "EUR"}, maxValue: 5000}) { errors { code } } }'
    return query, {"id": rate}


async def shipping_rate_delete(world: World) -> Request:
    _, rate = await _zone_with_rate(world)
    return "mutation($id: ID!) { shippingRateDelete(id: $id) { errors { code } } }", {"id": rate}


LOGISTICS_ROWS: dict[str, tuple[frozenset[str], Builder]] = {
    "Query.shippingZones": (OPS, shipping_zones),
    "Mutation.shippingZoneCreate": (OPS, shipping_zone_create),
    "Mutation.shippingZoneUpdate": (OPS, shipping_zone_update),
    "Mutation.shippingZoneDelete": (OPS, shipping_zone_delete),
    "Mutation.shippingRateCreate": (OPS, shipping_rate_create),
    "Mutation.shippingRateUpdate": (OPS, shipping_rate_update),
    "Mutation.shippingRateDelete": (OPS, shipping_rate_delete),
}


async def _carrier_id(world: World) -> str:
    code, _ = await make_carrier(world)
    async with world.services.db.reader() as session:
        carrier = await carrier_by_code(session, code)
    assert carrier is not None
    return gid("Carrier", carrier.id)


_CARRIER_INPUT = '{code: $c, name: "Parcels", trackingUrlTemplate: "https://t.example/{tracking_number}", statusMap: [{carrierCode: "OK", status: DELIVERED}]}'


async def carriers_list(world: World) -> Request:
    await make_carrier(world)
    return "{ carriers { code statusMap { carrierCode status } } }", {}


async def carrier_create(world: World) -> Request:
    query = f"mutation($c: String!) {{ carrierCreate(input: {_CARRIER_INPUT}) {{ webhookSecret errors {{ code }} }} }}"
    return query, {"c": f"c{uuid.uuid4().hex[:10]}"}


async def carrier_update(world: World) -> Request:
    query = f"mutation($id: ID!, $c: String!) {{ carrierUpdate(id: $id, input: {_CARRIER_INPUT}) {{ errors {{ code }} }} }}"
    return query, {"id": await _carrier_id(world), "c": f"c{uuid.uuid4().hex[:10]}"}


async def carrier_secret_rotate(world: World) -> Request:
    query = "mutation($id: ID!) { carrierSecretRotate(id: $id) { webhookSecret errors { code } } }"
    return query, {"id": await _carrier_id(world)}


async def shipping_rate_carrier_set(world: World) -> Request:
    _, rate = await _zone_with_rate(world)
    code, _ = await make_carrier(world)
    query = "mutation($id: ID!, $c: String) { shippingRateCarrierSet(id: $id, carrierCode: $c) { errors { code } } }"
    return query, {"id": rate, "c": code}


async def order_fulfill(world: World) -> Request:
    order = await place_order(world, paid=True)
    code, _ = await make_carrier(world)
    async with world.services.db.reader() as session:
        warehouse = await session.scalar(
            select(OrderAllocation.warehouse_id)
            .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
            .where(OrderLine.order_id == order)
        )
    [(line, quantity)] = await order_lines(world, order)
    query = "mutation($i: OrderFulfillInput!) { orderFulfill(input: $i) { errors { code } } }"
    return query, {
        "i": {
            "orderId": gid("Order", order),
            "lines": [{"lineId": gid("OrderLine", line), "quantity": quantity}],
            "warehouseId": gid("Warehouse", warehouse or 0),
            "carrierCode": code,
            "trackingNumber": f"T{uuid.uuid4().hex[:12]}",
            "idempotencyKey": uuid.uuid4().hex,
        }
    }


async def shipments(world: World) -> Request:
    return "{ shipments(first: 5) { nodes { trackingNumber events { status } } } }", {}


LOGISTICS_ROWS.update(
    {
        "Query.carriers": (OPS, carriers_list),
        "Mutation.carrierCreate": (OPS, carrier_create),
        "Mutation.carrierUpdate": (OPS, carrier_update),
        "Mutation.carrierSecretRotate": (OPS, carrier_secret_rotate),
        "Mutation.shippingRateCarrierSet": (OPS, shipping_rate_carrier_set),
        "Mutation.orderFulfill": (frozenset({"business"}), order_fulfill),
        "Query.shipments": (frozenset({"business"}), shipments),
    }
)
