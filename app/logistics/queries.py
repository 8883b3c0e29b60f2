"""Bulk reads behind the GraphQL loaders and lists: each costs one statement for many keys."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.logistics.shipment_models import (
    Carrier,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
)
from app.pagination import KeysetOrder

__all__ = [
    "SHIPMENT_ORDER",
    "ShipmentFilter",
    "carriers_by_id",
    "events_by_shipment",
    "lines_by_shipment",
    "shipments_by_order",
    "shipments_query",
]


def _parse_time(value: Any) -> datetime:
    return datetime.fromisoformat(value)


SHIPMENT_ORDER = KeysetOrder("created_at", Shipment.created_at, Shipment.id, True, _parse_time)


@dataclass(frozen=True, slots=True)
class ShipmentFilter:
    status: ShipmentStatus | None = None
    carrier_code: str | None = None
    tracking_number: str | None = None
    order_id: int | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def shipments_query(shop_id: int, spec: ShipmentFilter) -> Select[Any]:
    query = select(Shipment).where(Shipment.shop_id == shop_id)
    if spec.status is not None:
        query = query.where(Shipment.status == spec.status)
    if spec.carrier_code is not None:
        query = query.where(
            Shipment.carrier_id.in_(select(Carrier.id).where(Carrier.code == spec.carrier_code))
        )
    if spec.tracking_number is not None:
        query = query.where(Shipment.tracking_number == spec.tracking_number)
    if spec.order_id is not None:
        query = query.where(Shipment.order_id == spec.order_id)
    if spec.created_from is not None:
        query = query.where(Shipment.created_at >= spec.created_from)
    if spec.created_to is not None:
        query = query.where(Shipment.created_at < spec.created_to)
    return query


async def _grouped(session: AsyncSession, query: Select[Any], key: str) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = defaultdict(list)
    for row in await session.scalars(query):
        grouped[getattr(row, key)].append(row)
    return grouped


async def shipments_by_order(
    session: AsyncSession, order_ids: Sequence[int]
) -> dict[int, list[Shipment]]:
    query = (
        select(Shipment)
        .where(Shipment.order_id.in_(order_ids))
        .order_by(Shipment.order_id, Shipment.created_at, Shipment.id)
    )
    return await _grouped(session, query, "order_id")


async def events_by_shipment(
    session: AsyncSession, shipment_ids: Sequence[int]
) -> dict[int, list[TrackingEvent]]:
    """Each shipment's timeline in the order things happened (not the order they arrived)."""
    query = (
        select(TrackingEvent)
        .where(TrackingEvent.shipment_id.in_(shipment_ids))
        .order_by(TrackingEvent.shipment_id, TrackingEvent.occurred_at, TrackingEvent.id)
    )
    return await _grouped(session, query, "shipment_id")


async def lines_by_shipment(
    session: AsyncSession, shipment_ids: Sequence[int]
) -> dict[int, list[ShipmentLine]]:
    query = (
        select(ShipmentLine)
        .where(ShipmentLine.shipment_id.in_(shipment_ids))
        .order_by(ShipmentLine.shipment_id, ShipmentLine.id)
    )
    return await _grouped(session, query, "shipment_id")


async def carriers_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Carrier]:
    return {
        row.id: row for row in await session.scalars(select(Carrier).where(Carrier.id.in_(ids)))
    }
