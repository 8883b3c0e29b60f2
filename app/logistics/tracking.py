"""Tracking events: a carrier's word on a parcel, placed in its timeline by when it happened.

Every delivery is first recorded in ``carrier_events`` under the carrier's event id, in the same
transaction as its effect, so a delivery seen before changes nothing. An event for a tracking
number no shipment carries yet waits there and is applied when that shipment is created. The
carrier's code maps to our status through its table; an unmapped code is kept as UNKNOWN and
moves nothing. What a mapped event does is ``app.logistics.status.effect_of``'s decision.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.logistics.shipment_models import (
    Carrier,
    CarrierEvent,
    Shipment,
    ShipmentStatus,
    TrackingEvent,
)
from app.logistics.status import EventEffect, effect_of
from app.trade.fulfilment import refresh_fulfilment_status

__all__ = [
    "CarrierUpdate",
    "Receipt",
    "apply_waiting_events",
    "receive_carrier_update",
    "record_event",
    "sync_order_fulfilment",
]

ILLEGAL_TRANSITION = "ILLEGAL_TRANSITION"


@dataclass(frozen=True, slots=True)
class CarrierUpdate:
    """One webhook delivery, parsed: the fields DESIGN's carrier webhook carries."""

    event_id: str
    tracking_number: str
    code: str
    occurred_at: datetime
    location: str = ""
    description: str = ""
    estimated_delivery: datetime | None = None

    def to_payload(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "tracking_number": self.tracking_number,
            "status": self.code,
            "occurred_at": self.occurred_at.isoformat(),
            "location": self.location,
            "description": self.description,
            "estimated_delivery": (
                self.estimated_delivery.isoformat() if self.estimated_delivery else None
            ),
        }

    @classmethod
    def of_payload(cls, payload: dict[str, Any]) -> CarrierUpdate:
        estimate = payload.get("estimated_delivery")
        return cls(
            event_id=payload["event_id"],
            tracking_number=payload["tracking_number"],
            code=payload["status"],
            occurred_at=datetime.fromisoformat(payload["occurred_at"]),
            location=payload.get("location") or "",
            description=payload.get("description") or "",
            estimated_delivery=datetime.fromisoformat(estimate) if estimate else None,
        )


@dataclass(slots=True)
class Receipt:
    duplicate: bool = False
    matched: bool = False
    refusal: str | None = None
    # (shipment, event) pairs to push to subscribers once the transaction has committed.
    published: list[tuple[Shipment, TrackingEvent]] = field(default_factory=list)


async def sync_order_fulfilment(session: AsyncSession, order_id: int) -> None:
    """Tell trade what the order's shipments now add up to."""
    statuses = list(
        await session.scalars(
            select(Shipment.status).where(
                Shipment.order_id == order_id, Shipment.status != ShipmentStatus.CANCELLED
            )
        )
    )
    delivered = bool(statuses) and all(s is ShipmentStatus.DELIVERED for s in statuses)
    await refresh_fulfilment_status(session, order_id, all_shipments_delivered=delivered)


async def record_event(
    session: AsyncSession,
    shipment: Shipment,
    status: ShipmentStatus,
    occurred_at: datetime,
    *,
    raw_code: str = "",
    location: str = "",
    description: str = "",
    applied: bool = True,
    carrier_event_id: int | None = None,
) -> TrackingEvent:
    event = TrackingEvent(
        shipment_id=shipment.id,
        carrier_event_id=carrier_event_id,
        occurred_at=occurred_at,
        status=status,
        raw_code=raw_code[:64],
        location=location[:200],
        description=description[:2000],
        applied=applied,
    )
    session.add(event)
    await session.flush()
    return event


async def _apply(
    session: AsyncSession, shipment: Shipment, carrier: Carrier, inbox: CarrierEvent
) -> tuple[TrackingEvent | None, str | None]:
    update = CarrierUpdate.of_payload(inbox.payload)
    inbox.shipment_id = shipment.id
    mapped = carrier.status_map.get(update.code)
    status = ShipmentStatus(mapped) if mapped else ShipmentStatus.UNKNOWN
    effect = effect_of(shipment.status, shipment.status_at, status, update.occurred_at)
    if effect is EventEffect.ILLEGAL:
        inbox.refusal = ILLEGAL_TRANSITION
        return None, ILLEGAL_TRANSITION
    event = await record_event(
        session,
        shipment,
        status,
        update.occurred_at,
        raw_code=update.code,
        location=update.location,
        description=update.description,
        applied=effect is EventEffect.APPLIED,
        carrier_event_id=inbox.id,
    )
    if update.estimated_delivery is not None and effect is not EventEffect.ILLEGAL:
        shipment.estimated_delivery = update.estimated_delivery
    if effect is EventEffect.APPLIED:
        shipment.status = status
        shipment.status_at = update.occurred_at
        if status is ShipmentStatus.DELIVERED:
            shipment.delivered_at = update.occurred_at
        await session.flush()
        await sync_order_fulfilment(session, shipment.order_id)
    return event, None


async def receive_carrier_update(
    session: AsyncSession, carrier: Carrier, update: CarrierUpdate
) -> Receipt:
    """Record one delivery and apply it if its shipment is known, in the caller's transaction."""
    inbox = CarrierEvent(
        carrier_id=carrier.id,
        event_id=update.event_id,
        tracking_number=update.tracking_number,
        payload=update.to_payload(),
    )
    try:
        async with session.begin_nested():
            session.add(inbox)
            await session.flush()
    except IntegrityError:
        return Receipt(duplicate=True)
    shipment = await session.scalar(
        select(Shipment)
        .where(
            Shipment.carrier_id == carrier.id,
            Shipment.tracking_number == update.tracking_number,
        )
        .with_for_update()
    )
    if shipment is None:
        return Receipt()  # kept for later matching
    event, refusal = await _apply(session, shipment, carrier, inbox)
    receipt = Receipt(matched=True, refusal=refusal)
    if event is not None:
        receipt.published.append((shipment, event))
    return receipt


async def apply_waiting_events(
    session: AsyncSession, shipment: Shipment, carrier: Carrier
) -> list[TrackingEvent]:
    """Events that arrived before their shipment existed, applied in the order they happened."""
    waiting = list(
        await session.scalars(
            select(CarrierEvent).where(
                CarrierEvent.carrier_id == carrier.id,
                CarrierEvent.tracking_number == shipment.tracking_number,
                CarrierEvent.shipment_id.is_(None),
            )
        )
    )
    waiting.sort(key=lambda e: (CarrierUpdate.of_payload(e.payload).occurred_at, e.id))
    applied = []
    for inbox in waiting:
        event, _ = await _apply(session, shipment, carrier, inbox)
        if event is not None:
            applied.append(event)
    return applied
