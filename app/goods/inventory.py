"""Warehouses and stock adjustments. Stock never drops below what orders have reserved.

An adjustment may also set the level's low-stock threshold; one that takes available stock
below it writes ``inventory/below_threshold`` (``app.goods.stock_topics``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionFactory, utcnow
from app.errors import DomainError, Problem
from app.goods.errors import GoodsErrorCode
from app.goods.models import InventoryAdjustment, InventoryLevel, Variant, Warehouse
from app.goods.stock_topics import FACTS, StockFacts, record_below_threshold
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


def _check_change(delta: int, low_stock_threshold: int | None) -> list[Problem]:
    problems = []
    if abs(delta) > MAX_DELTA or (delta == 0 and low_stock_threshold is None):
        problems.append(
            Problem(
                GoodsErrorCode.INVALID,
                "Give a non-zero change of at most 10⁹ (0 only when setting a threshold).",
                ("input", "delta"),
            )
        )
    if low_stock_threshold is not None and not 0 <= low_stock_threshold <= MAX_DELTA:
        problems.append(
            Problem(
                GoodsErrorCode.INVALID_THRESHOLD,
                "A low-stock threshold is 0 (no alert) to 10⁹ units.",
                ("input", "lowStockThreshold"),
            )
        )
    return problems


async def adjust_inventory(
    session: AsyncSession,
    shop_id: int,
    *,
    variant_id: int,
    warehouse_id: int,
    delta: int,
    reason: AdjustmentReason,
    actor: str,
    low_stock_threshold: int | None = None,
) -> InventoryAdjustment:
    """Apply ``delta`` to on-hand stock (and set the level's low-stock threshold, when given)
    in one conditional UPDATE.

    The condition ``on_hand + delta >= reserved`` sits in the UPDATE itself, so concurrent
    adjustments and reservations can never push stock under what is promised to orders. The
    UPDATE returns the level's values, so whether it fell below its threshold (the new one,
    when this call sets it) is known without a read; if it did, ``inventory/below_threshold``
    is written in the same transaction.
    """
    problems = _check_change(delta, low_stock_threshold)
    if problems:
        raise DomainError(problems)
    variant = (
        await session.execute(
            select(Variant.sku, Variant.product_id).where(
                Variant.id == variant_id, Variant.shop_id == shop_id
            )
        )
    ).first()
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
    if missing or variant is None:
        raise DomainError(missing)
    changes: dict[str, Any] = {"on_hand": InventoryLevel.on_hand + delta, "updated_at": utcnow()}
    if low_stock_threshold is not None:
        changes["low_stock_threshold"] = low_stock_threshold
    applied = (
        await session.execute(
            update(InventoryLevel)
            .where(
                InventoryLevel.variant_id == variant_id,
                InventoryLevel.warehouse_id == warehouse_id,
                InventoryLevel.on_hand + delta >= InventoryLevel.reserved,
            )
            .values(**changes)
            .returning(*FACTS)
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
        if low_stock_threshold is not None:
            level.low_stock_threshold = low_stock_threshold
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
                low_stock_threshold=low_stock_threshold,
            )
        # A new level only ever gains stock: nothing fell.
        applied_id, on_hand = level.id, level.on_hand
    else:
        facts = StockFacts(*applied)
        applied_id, on_hand = facts.level_id, facts.on_hand
        if facts.crossed(-delta):
            record_below_threshold(
                session,
                shop_id,
                variant_id=variant_id,
                product_id=variant.product_id,
                sku=variant.sku,
                facts=facts,
            )
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
    low_stock_threshold: int | None = None,
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
            low_stock_threshold=low_stock_threshold,
        )
        if on_adjusted is not None:
            await on_adjusted(session, adjustment)
        return {"adjustment_id": adjustment.id}

    request: dict[str, Any] = {
        "variant": variant_id,
        "warehouse": warehouse_id,
        "delta": delta,
        "reason": reason,
    }
    if low_stock_threshold is not None:
        # Only when given, so the keys of adjustments made without one keep their fingerprint.
        request["threshold"] = low_stock_threshold
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
