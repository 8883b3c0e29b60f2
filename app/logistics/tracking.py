"""Tracking events: a carrier's word on a parcel, placed in its timeline by when it happened.

Every delivery is first recorded in ``carrier_events`` under the carrier's event id, in the same
transaction as its effect, so a delivery seen before changes nothing. An event for a tracking
number no shipment carries yet waits there and is applied when that shipment is created. The
carrier's code maps to our status through its table; an unmapped code is kept as UNKNOWN and
moves nothing. The status is the end of the timeline replayed in time order
(``app.logistics.status.replay``); an event no legal step leads to is kept, marked not applied,
and refused.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.logistics.shipment_models import (
    Carrier,
    CarrierEvent,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
)
from app.logistics.shipment_topics import record_shipment_updated
from app.logistics.status import FINAL, TimelineEvent, replay
from app.trade.fulfilment import FulfilmentLine, refresh_fulfilment_status, unship_lines

__all__ = [
    "CarrierUpdate",
    "Receipt",
    "apply_waiting_events",
    "earliest_waiting",
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
    # True when the delivery moved the parcel's status (or the time of it).
    applied: bool = False
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


async def _timeline(session: AsyncSession, shipment: Shipment) -> list[TrackingEvent]:
    return list(
        await session.scalars(select(TrackingEvent).where(TrackingEvent.shipment_id == shipment.id))
    )


async def _cancelled(session: AsyncSession, shipment: Shipment) -> None:
    """The parcel will not leave: trade counts its units as unshipped and holds them again."""
    lines = await session.scalars(
        select(ShipmentLine).where(ShipmentLine.shipment_id == shipment.id)
    )
    await unship_lines(
        session,
        shipment.order_id,
        shipment.warehouse_id or 0,
        [FulfilmentLine(line.order_line_id, line.quantity) for line in lines],
    )


async def _apply(
    session: AsyncSession, shipment: Shipment, carrier: Carrier, inbox: CarrierEvent
) -> tuple[TrackingEvent, bool, str | None]:
    """Add the event to the timeline, then replay the timeline: (event, status moved, refusal).

    A parcel that reached a final state stays in it (a cancelled one's units went back to the
    order): an event whose replay would end elsewhere is kept and refused.
    """
    update = CarrierUpdate.of_payload(inbox.payload)
    inbox.shipment_id = shipment.id
    mapped = carrier.status_map.get(update.code)
    status = ShipmentStatus(mapped) if mapped else ShipmentStatus.UNKNOWN
    event = await record_event(
        session,
        shipment,
        status,
        update.occurred_at,
        raw_code=update.code,
        location=update.location,
        description=update.description,
        applied=False,
        carrier_event_id=inbox.id,
    )
    timeline = await _timeline(session, shipment)
    if update.estimated_delivery is not None and all(
        e.occurred_at <= update.occurred_at for e in timeline
    ):
        shipment.estimated_delivery = update.estimated_delivery
    label_at = min(
        (e.occurred_at for e in timeline if e.carrier_event_id is None), default=shipment.status_at
    )
    result = replay(
        [
            TimelineEvent(e.id, e.status, e.occurred_at)
            for e in timeline
            if e.status is not ShipmentStatus.UNKNOWN
        ],
        label_at,
    )
    if shipment.status in FINAL and result.status is not shipment.status:
        # A journey that ended stays ended: what contradicts its end is kept and refused.
        refusal = None if status is ShipmentStatus.UNKNOWN else ILLEGAL_TRANSITION
        inbox.refusal = refusal or ""
        return event, False, refusal
    for row in timeline:
        row.applied = row.id in result.applied
    refusal = None
    if status is not ShipmentStatus.UNKNOWN and event.id not in result.applied:
        refusal = ILLEGAL_TRANSITION
        inbox.refusal = refusal
    moved = (result.status, result.status_at) != (shipment.status, shipment.status_at)
    shipment.status, shipment.status_at = result.status, result.status_at
    shipment.delivered_at = result.delivered_at
    await session.flush()
    if moved:
        if result.status is ShipmentStatus.CANCELLED:
            await _cancelled(session, shipment)
        await sync_order_fulfilment(session, shipment.order_id)
    return event, moved, refusal


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
    previous = shipment.status
    event, moved, refusal = await _apply(session, shipment, carrier, inbox)
    record_shipment_updated(session, shipment, carrier, previous, now=utcnow())
    return Receipt(matched=True, applied=moved, refusal=refusal, published=[(shipment, event)])


async def earliest_waiting(
    session: AsyncSession, carrier_id: int, tracking_number: str
) -> datetime | None:
    """When the carrier first spoke of a tracking number no parcel carried yet."""
    payloads = await session.scalars(
        select(CarrierEvent.payload).where(
            CarrierEvent.carrier_id == carrier_id,
            CarrierEvent.tracking_number == tracking_number,
            CarrierEvent.shipment_id.is_(None),
        )
    )
    return min((CarrierUpdate.of_payload(p).occurred_at for p in payloads), default=None)


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
    return [(await _apply(session, shipment, carrier, inbox))[0] for inbox in waiting]
