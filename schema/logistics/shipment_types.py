"""Shipments as frontends show them: a parcel with its carrier and a live timeline."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from app.logistics import carriers
from app.logistics import shipment_models as models
from schema.node import Node, encode_id

__all__ = ["Carrier", "Shipment", "ShipmentLine", "ShipmentStatusEnum", "TrackingEvent"]

ShipmentStatusEnum = strawberry.enum(
    models.ShipmentStatus,
    name="ShipmentStatus",
    description="UNKNOWN appears on tracking events only: a carrier code not in its mapping.",
)


@strawberry.type(description="Who carries a parcel.")
class Carrier:
    id: strawberry.ID
    code: str
    name: str

    @classmethod
    def of(cls, row: models.Carrier) -> Carrier:
        return cls(id=encode_id("Carrier", row.id), code=row.code, name=row.name)


@strawberry.type(description="One step of a parcel's journey, as its carrier reported it.")
class TrackingEvent:
    occurred_at: datetime
    status: ShipmentStatusEnum  # type: ignore[valid-type]
    raw_code: str = strawberry.field(description="The carrier's own code for the event.")
    location: str
    description: str
    applied: bool = strawberry.field(
        description="Whether the event is a step of the parcel's journey as replayed in time "
        "order. False when its code is unknown or no legal step leads to it: it keeps its "
        "place in the timeline but decides nothing."
    )

    @classmethod
    def of(cls, row: models.TrackingEvent) -> TrackingEvent:
        return cls(
            occurred_at=row.occurred_at,
            status=row.status,
            raw_code=row.raw_code,
            location=row.location,
            description=row.description,
            applied=row.applied,
        )


@strawberry.type
class ShipmentLine:
    order_line_id: strawberry.ID
    quantity: int


@strawberry.type(description="One parcel of an order.")
class Shipment(Node):
    tracking_number: str
    status: ShipmentStatusEnum  # type: ignore[valid-type]
    estimated_delivery: datetime | None
    delivered_at: datetime | None
    created_at: datetime
    pk: strawberry.Private[int]
    carrier_pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.Shipment) -> Shipment:
        return cls(
            id=encode_id("Shipment", row.id),
            tracking_number=row.tracking_number,
            status=row.status,
            estimated_delivery=row.estimated_delivery,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
            pk=row.id,
            carrier_pk=row.carrier_id,
        )

    @strawberry.field
    async def carrier(self, info: Info) -> Carrier:
        row = await info.context.loaders.carrier.load(self.carrier_pk)
        return Carrier.of(row)

    @strawberry.field(description="The carrier's page for this parcel.")
    async def tracking_url(self, info: Info) -> str:
        row = await info.context.loaders.carrier.load(self.carrier_pk)
        return carriers.tracking_url(row, self.tracking_number)

    @strawberry.field(description="Oldest first, by when each thing happened.")
    async def events(self, info: Info) -> list[TrackingEvent]:
        rows = await info.context.loaders.tracking_events.load(self.pk)
        return [TrackingEvent.of(row) for row in rows]

    @strawberry.field(description="Which order lines, and how many units, the parcel holds.")
    async def lines(self, info: Info) -> list[ShipmentLine]:
        rows = await info.context.loaders.shipment_lines.load(self.pk)
        return [
            ShipmentLine(order_line_id=encode_id("OrderLine", r.order_line_id), quantity=r.quantity)
            for r in rows
        ]
