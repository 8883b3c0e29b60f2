"""The outbox side of shipments: ``shipments/created`` and ``shipments/updated``.

Written into the session of the change (``app.events.outbox``), from the shipment and carrier
rows the caller already holds, so an event costs its INSERT and nothing else. ``updated`` is
only for a status that actually changed; a newer report of the same status, or an event that
lands in the past of the timeline, says nothing new to an app.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.outbox import record_event
from app.events.topics import Topic
from app.logistics.carriers import tracking_url
from app.logistics.shipment_models import Carrier, Shipment, ShipmentStatus

__all__ = ["record_shipment_created", "record_shipment_updated", "shipment_payload"]


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def shipment_payload(shipment: Shipment, carrier: Carrier) -> dict[str, Any]:
    return {
        "shipment_id": shipment.id,
        "order_id": shipment.order_id,
        "warehouse_id": shipment.warehouse_id,
        "status": str(shipment.status),
        "status_at": _when(shipment.status_at),
        "carrier_id": carrier.id,
        "carrier_code": carrier.code,
        "tracking_number": shipment.tracking_number or None,
        "tracking_url": tracking_url(carrier, shipment.tracking_number)
        if shipment.tracking_number
        else None,
        "estimated_delivery": _when(shipment.estimated_delivery),
        "delivered_at": _when(shipment.delivered_at),
    }


def record_shipment_created(
    session: AsyncSession, shipment: Shipment, carrier: Carrier, *, now: datetime
) -> None:
    record_event(
        session,
        Topic.SHIPMENTS_CREATED,
        shipment.shop_id,
        shipment_payload(shipment, carrier),
        occurred_at=now,
    )


def record_shipment_updated(
    session: AsyncSession,
    shipment: Shipment,
    carrier: Carrier,
    previous: ShipmentStatus,
    *,
    now: datetime,
) -> bool:
    """``shipments/updated`` when the status moved away from ``previous``; whether it did."""
    if shipment.status == previous:
        return False
    record_event(
        session,
        Topic.SHIPMENTS_UPDATED,
        shipment.shop_id,
        {**shipment_payload(shipment, carrier), "previous_status": str(previous)},
        occurred_at=now,
    )
    return True
