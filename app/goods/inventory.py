"""Warehouses and stock adjustments. Stock never drops below what orders have reserved."""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionFactory, utcnow
from app.errors import DomainError, Problem
from app.goods.errors import GoodsErrorCode
from app.goods.models import InventoryAdjustment, InventoryLevel, Variant, Warehouse
from app.goods.validation import check_text
from app.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflictError,
    IdempotencyKeyError,
    run_once,
)

__all__ = ["AdjustmentReason", "adjust_inventory", "adjust_inventory_once", "create_warehouse"]

MAX_DELTA = 1_000_000_000
_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")


class AdjustmentReason(enum.StrEnum):
    RECEIVED = "received"
    CORRECTION = "correction"
    CYCLE_COUNT = "cycle_count"
    DAMAGED = "damaged"
    SHRINKAGE = "shrinkage"
    RETURNED = "returned"
    OTHER = "other"


async def create_warehouse(
    session: AsyncSession, shop_id: int, *, code: str, name: str, country_code: str = ""
) -> Warehouse:
    problems = check_text(name, 200, "input", "name")
    if not _CODE.match(code):
        problems.append(
            Problem(
                GoodsErrorCode.INVALID, "A code is 1-64 letters, digits, - or _.", ("input", "code")
            )
        )
    if country_code and not re.match(r"^[A-Z]{2}$", country_code):
        problems.append(
            Problem(
                GoodsErrorCode.INVALID, "Use an ISO 3166 alpha-2 code.", ("input", "countryCode")
            )
        )
    if problems:
        raise DomainError(problems)
    taken = await session.scalar(
        select(Warehouse.id).where(Warehouse.shop_id == shop_id, Warehouse.code == code)
    )
    if taken is not None:
        raise DomainError.one(GoodsErrorCode.DUPLICATE_CODE, "Code in use.", "input", "code")
    warehouse = Warehouse(shop_id=shop_id, code=code, name=name.strip(), country_code=country_code)
    session.add(warehouse)
    await session.flush()
    return warehouse


async def adjust_inventory(
    session: AsyncSession,
    shop_id: int,
    *,
    variant_id: int,
    warehouse_id: int,
    delta: int,
    reason: AdjustmentReason,
    actor: str,
) -> InventoryAdjustment:
    """Apply ``delta`` to on-hand stock in one conditional UPDATE.

    The condition ``on_hand + delta >= reserved`` sits in the UPDATE itself, so concurrent
    adjustments and reservations can never push stock under what is promised to orders.
    """
    if delta == 0 or abs(delta) > MAX_DELTA:
        raise DomainError.one(
            GoodsErrorCode.INVALID, "Give a non-zero change of at most 10⁹.", "input", "delta"
        )
    variant = await session.scalar(
        select(Variant.id).where(Variant.id == variant_id, Variant.shop_id == shop_id)
    )
    warehouse = await session.scalar(
        select(Warehouse.id).where(Warehouse.id == warehouse_id, Warehouse.shop_id == shop_id)
    )
    missing = []
    if variant is None:
        missing.append(
            Problem(GoodsErrorCode.NOT_FOUND, "No such variant.", ("input", "variantId"))
        )
    if warehouse is None:
        missing.append(
            Problem(GoodsErrorCode.NOT_FOUND, "No such warehouse.", ("input", "warehouseId"))
        )
    if missing:
        raise DomainError(missing)
    applied = (
        await session.execute(
            update(InventoryLevel)
            .where(
                InventoryLevel.variant_id == variant_id,
                InventoryLevel.warehouse_id == warehouse_id,
                InventoryLevel.on_hand + delta >= InventoryLevel.reserved,
            )
            .values(on_hand=InventoryLevel.on_hand + delta, updated_at=utcnow())
            .returning(InventoryLevel.id, InventoryLevel.on_hand)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if applied is None:
        level_id = await session.scalar(
            select(InventoryLevel.id).where(
                InventoryLevel.variant_id == variant_id, InventoryLevel.warehouse_id == warehouse_id
            )
        )
        if level_id is not None or delta < 0:
            raise DomainError.one(
                GoodsErrorCode.BELOW_RESERVED,
                "Stock cannot go below what is reserved for orders.",
                "input",
                "delta",
            )
        level = InventoryLevel(variant_id=variant_id, warehouse_id=warehouse_id, on_hand=delta)
        try:
            async with session.begin_nested():
                session.add(level)
                await session.flush()
        except IntegrityError:
            # A concurrent first adjustment created the level; apply ours to it instead.
            return await adjust_inventory(
                session,
                shop_id,
                variant_id=variant_id,
                warehouse_id=warehouse_id,
                delta=delta,
                reason=reason,
                actor=actor,
            )
        applied_id, on_hand = level.id, level.on_hand
    else:
        applied_id, on_hand = applied
    adjustment = InventoryAdjustment(
        shop_id=shop_id,
        level_id=applied_id,
        delta=delta,
        on_hand_after=on_hand,
        reason=reason,
        actor=actor,
    )
    session.add(adjustment)
    await session.flush()
    return adjustment


async def adjust_inventory_once(
    writer: SessionFactory,
    shop_id: int,
    *,
    key: str,
    variant_id: int,
    warehouse_id: int,
    delta: int,
    reason: AdjustmentReason,
    actor: str,
    on_adjusted: Callable[[AsyncSession, InventoryAdjustment], Awaitable[None]] | None = None,
) -> tuple[int, bool]:
    """``adjust_inventory`` under an idempotency key: ``(adjustment id, replayed)``.

    A replay returns the first adjustment; the same key with other input is refused; a refused
    adjustment leaves the key unused, so the caller may retry it once the stock allows.
    ``on_adjusted`` runs in the adjustment's transaction (the audit record), never on a replay.
    """

    async def effect(session: AsyncSession) -> dict[str, int]:
        adjustment = await adjust_inventory(
            session,
            shop_id,
            variant_id=variant_id,
            warehouse_id=warehouse_id,
            delta=delta,
            reason=reason,
            actor=actor,
        )
        if on_adjusted is not None:
            await on_adjusted(session, adjustment)
        return {"adjustment_id": adjustment.id}

    request = {"variant": variant_id, "warehouse": warehouse_id, "delta": delta, "reason": reason}
    try:
        result, replayed = await run_once(
            writer,
            scope=f"inventory_adjust:shop:{shop_id}",
            key=key,
            request=request,
            effect=effect,
        )
    except IdempotencyKeyError as exc:
        raise DomainError.one(
            GoodsErrorCode.INVALID,
            f"Give an idempotency key of 1 to {MAX_KEY_LENGTH} characters.",
            "input",
            "idempotencyKey",
        ) from exc
    except IdempotencyConflictError as exc:
        raise DomainError.one(
            GoodsErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was used with different input.",
            "input",
            "idempotencyKey",
        ) from exc
    return result["adjustment_id"], replayed
