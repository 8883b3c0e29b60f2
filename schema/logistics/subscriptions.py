"""``shipmentUpdated(orderId)``: each new tracking event of an order, pushed as it arrives.

Served over graphql-transport-ws only. The caller authenticates in the connection's init
payload (``{"authorization": "Bearer ...", "shop": "<handle>"}``), since browsers cannot set
headers on a websocket. The order's buyer may subscribe, and so may the shop's staff; anyone
else is refused. Messages come from ``app.broadcast``: in process, or through Redis pub/sub so
an event received by one worker reaches subscribers connected to another.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.types import Info

from app.broadcast import Broadcast
from app.logistics.live import order_topic, read_message
from app.logistics.shipment_models import ShipmentStatus
from app.trade.orders import orders_by_id
from schema.errors import ApiErrorCode, api_error
from schema.logistics.shipment_types import ShipmentStatusEnum, TrackingEvent
from schema.node import encode_id, parse_id

__all__ = ["ShipmentSubscription", "ShipmentUpdate"]


@strawberry.type(description="A new tracking event of one of the order's parcels.")
class ShipmentUpdate:
    shipment_id: strawberry.ID
    tracking_number: str
    shipment_status: ShipmentStatusEnum  # type: ignore[valid-type]
    event: TrackingEvent


def _update(message: dict[str, object]) -> ShipmentUpdate:
    return ShipmentUpdate(
        shipment_id=encode_id("Shipment", int(str(message["shipment_id"]))),
        tracking_number=str(message["tracking_number"]),
        shipment_status=ShipmentStatus(str(message["shipment_status"])),
        event=TrackingEvent(
            occurred_at=datetime.fromisoformat(str(message["occurred_at"])),
            status=ShipmentStatus(str(message["status"])),
            raw_code=str(message["raw_code"]),
            location=str(message["location"]),
            description=str(message["description"]),
            applied=bool(message["applied"]),
        ),
    )


async def _may_follow(info: Info, order_id: strawberry.ID) -> int:
    context = info.context
    parsed = parse_id(str(order_id))
    refusal = api_error(ApiErrorCode.FORBIDDEN, "You may not follow this order.")
    if parsed is None or parsed[0] != "Order" or context.principal is None:
        raise refusal
    async with context.db.reader() as session:
        order = (await orders_by_id(session, context.require_shop().id, [parsed[1]])).get(parsed[1])
    if order is None:
        raise refusal
    own = order.user_id is not None and context.principal.user_id == order.user_id
    if not own and not await context.allows("order", "read"):
        raise refusal
    return order.id


@strawberry.type
class ShipmentSubscription:
    @strawberry.subscription(
        description="Tracking events of the order's parcels as they arrive; for its buyer "
        "and the shop's staff. Authenticate in the connection_init payload."
    )
    async def shipment_updated(
        self, info: Info, order_id: strawberry.ID
    ) -> AsyncGenerator[ShipmentUpdate, None]:
        # Checked before the stream exists, so a refusal is the protocol's "error" message
        # rather than a first "next" carrying errors.
        pk = await _may_follow(info, order_id)
        return _follow(info.context.services.broadcast, pk)


async def _follow(broadcast: Broadcast, order_id: int) -> AsyncGenerator[ShipmentUpdate, None]:
    async with broadcast.listen(order_topic(order_id)) as messages:
        async for raw in messages:
            yield _update(read_message(raw))
