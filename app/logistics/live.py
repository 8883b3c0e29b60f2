"""What subscribers to an order's shipments receive, and the topic they listen on.

Events are published only after the transaction that recorded them commits, so a subscriber
never sees an event that was rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import orjson

from app.broadcast import Broadcast
from app.logistics.shipment_models import Shipment, TrackingEvent

__all__ = ["order_topic", "publish_events", "read_message"]

log = logging.getLogger("agora.logistics.live")


def order_topic(order_id: int) -> str:
    return f"shipments:order:{order_id}"


def _message(shipment: Shipment, event: TrackingEvent) -> bytes:
    return orjson.dumps(
        {
            "shipment_id": shipment.id,
            "tracking_number": shipment.tracking_number,
            "shipment_status": shipment.status.value,
            "occurred_at": event.occurred_at.isoformat(),
            "status": event.status.value,
            "raw_code": event.raw_code,
            "location": event.location,
            "description": event.description,
            "applied": event.applied,
        }
    )


def read_message(raw: bytes) -> dict[str, Any]:
    return dict(orjson.loads(raw))


async def publish_events(
    broadcast: Broadcast, items: Iterable[tuple[Shipment, TrackingEvent]]
) -> None:
    """Best effort, after the commit: the events are recorded whatever happens here, and a
    failed push must not make the sender retry a delivery that is already applied."""
    for shipment, event in items:
        try:
            await broadcast.publish(order_topic(shipment.order_id), _message(shipment, event))
        except Exception:
            log.warning(
                "could not push a tracking event of shipment %s", shipment.id, exc_info=True
            )
