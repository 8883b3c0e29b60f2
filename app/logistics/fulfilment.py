"""Fulfilling an order: one parcel from one warehouse, with a carrier and a tracking number.

Trade counts the units as shipped and moves the stock (``app.trade.fulfilment``); logistics
makes the shipment, its first tracking event (the label), and applies any carrier events that
arrived for this tracking number before the shipment existed. It runs under an idempotency key,
so a retried request never ships twice.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionFactory
from app.errors import DomainError, Problem
from app.goods.models import Warehouse
from app.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflictError,
    IdempotencyKeyError,
    run_once,
)
from app.logistics.carriers import carrier_by_code
from app.logistics.errors import LogisticsErrorCode
from app.logistics.shipment_models import (
    Shipment,
    ShipmentLine,
    ShipmentStatus,
    TrackingEvent,
)
from app.logistics.shipment_topics import record_shipment_created
from app.logistics.tracking import (
    apply_waiting_events,
    earliest_waiting,
    record_event,
    sync_order_fulfilment,
)
from app.trade.fulfilment import FulfilmentLine, fulfil_lines

__all__ = ["FulfilRequest", "Fulfilled", "fulfil_order_once"]

_TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class FulfilRequest:
    shop_id: int
    order_id: int
    warehouse_id: int
    carrier_code: str
    tracking_number: str
    lines: tuple[FulfilmentLine, ...]
    key: str


@dataclass(slots=True)
class Fulfilled:
    shipment_id: int
    replayed: bool
    published: list[tuple[Shipment, TrackingEvent]] = field(default_factory=list)


async def _check(session: AsyncSession, request: FulfilRequest) -> Any:
    problems: list[Problem] = []
    carrier = await carrier_by_code(session, request.carrier_code)
    if carrier is None or not carrier.active:
        problems.append(
            Problem(LogisticsErrorCode.UNKNOWN_CARRIER, "No such carrier.", ("carrierCode",))
        )
    warehouse = await session.scalar(
        select(Warehouse.id).where(
            Warehouse.id == request.warehouse_id, Warehouse.shop_id == request.shop_id
        )
    )
    if warehouse is None:
        problems.append(
            Problem(LogisticsErrorCode.NOT_FOUND, "No such warehouse.", ("warehouseId",))
        )
    if not _TRACKING.match(request.tracking_number):
        problems.append(
            Problem(
                LogisticsErrorCode.INVALID,
                "1-64 letters, digits, spaces, '.', '_' or '-'.",
                ("trackingNumber",),
            )
        )
    if problems:
        raise DomainError(problems)
    return carrier


async def _fulfil(
    session: AsyncSession, request: FulfilRequest, now: datetime, published: list[Any]
) -> int:
    carrier = await _check(session, request)
    await fulfil_lines(
        session, request.shop_id, request.order_id, request.warehouse_id, request.lines
    )
    label_at = min(now, await earliest_waiting(session, carrier.id, request.tracking_number) or now)
    shipment = Shipment(
        shop_id=request.shop_id,
        order_id=request.order_id,
        carrier_id=carrier.id,
        warehouse_id=request.warehouse_id,
        tracking_number=request.tracking_number,
        status=ShipmentStatus.LABEL_CREATED,
        status_at=label_at,
    )
    try:
        async with session.begin_nested():
            session.add(shipment)
            await session.flush()
    except IntegrityError as exc:
        raise DomainError.one(
            LogisticsErrorCode.DUPLICATE_TRACKING_NUMBER,
            "This carrier already has a parcel with this tracking number.",
            "trackingNumber",
        ) from exc
    session.add_all(
        ShipmentLine(shipment_id=shipment.id, order_line_id=line.line_id, quantity=line.quantity)
        for line in request.lines
    )
    # Dated no later than the carrier's first word on it, so that word comes after the label.
    label = await record_event(
        session, shipment, ShipmentStatus.LABEL_CREATED, label_at, description="Label created"
    )
    published.append((shipment, label))
    published += [(shipment, e) for e in await apply_waiting_events(session, shipment, carrier)]
    await sync_order_fulfilment(session, request.order_id)
    # One event for the new parcel, in the status the carrier's early words already moved it
    # to: those moves are part of its creation, not updates an app has to catch up with.
    record_shipment_created(session, shipment, carrier, now=now)
    return shipment.id


async def fulfil_order_once(
    writer: SessionFactory,
    request: FulfilRequest,
    *,
    now: datetime,
    on_fulfilled: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
) -> Fulfilled:
    """Ship ``request.lines`` as one parcel; a replay of the key returns the first shipment.
    ``on_fulfilled`` runs in the same transaction (the audit record), never on a replay."""
    published: list[tuple[Shipment, TrackingEvent]] = []

    async def effect(session: AsyncSession) -> dict[str, int]:
        shipment_id = await _fulfil(session, request, now, published)
        if on_fulfilled is not None:
            await on_fulfilled(session, shipment_id)
        return {"shipment_id": shipment_id}

    fingerprint = {
        "order": request.order_id,
        "warehouse": request.warehouse_id,
        "carrier": request.carrier_code,
        "tracking": request.tracking_number,
        "lines": [[line.line_id, line.quantity] for line in request.lines],
    }
    try:
        result, replayed = await run_once(
            writer,
            scope=f"fulfil:shop:{request.shop_id}",
            key=request.key,
            request=fingerprint,
            effect=effect,
        )
    except IdempotencyConflictError as exc:
        raise DomainError.one(
            LogisticsErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was used with other input.",
            "idempotencyKey",
        ) from exc
    except IdempotencyKeyError as exc:
        raise DomainError.one(
            LogisticsErrorCode.INVALID,
            f"Give an idempotency key of 1 to {MAX_KEY_LENGTH} characters.",
            "idempotencyKey",
        ) from exc
    return Fulfilled(result["shipment_id"], replayed, [] if replayed else published)


def lines_of(pairs: Sequence[tuple[int, int]]) -> tuple[FulfilmentLine, ...]:
    return tuple(FulfilmentLine(line_id, quantity) for line_id, quantity in pairs)
