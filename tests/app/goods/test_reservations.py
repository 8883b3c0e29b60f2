"""Stock reservations: allocated sensibly, released exactly, and never oversold."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.db import Database
from app.errors import DomainError
from app.goods.models import InventoryLevel, Variant
from app.goods.reservations import release_stock, reserve_stock
from tests.support.factories import World

pytestmark = pytest.mark.anyio


async def _stocked(world: World, *units: int) -> tuple[int, list[int]]:
    product = await world.product()
    async with world.services.db.reader() as session:
        variant = await session.scalar(select(Variant.id).where(Variant.product_id == product))
    assert variant is not None
    warehouses = [await world.warehouse() for _ in units]
    for warehouse, count in zip(warehouses, units, strict=True):
        await world.stock(variant, warehouse, count)
    return variant, warehouses


async def _reserved(db: Database, variant: int) -> dict[int, tuple[int, int]]:
    async with db.reader() as session:
        rows = await session.execute(
            select(
                InventoryLevel.warehouse_id, InventoryLevel.on_hand, InventoryLevel.reserved
            ).where(InventoryLevel.variant_id == variant)
        )
        return {w: (on_hand, reserved) for w, on_hand, reserved in rows}


async def test_the_fullest_warehouse_is_taken_first_and_release_gives_it_back(
    world: World, db: Database
) -> None:
    variant, (small, large) = await _stocked(world, 3, 8)
    async with db.writer() as session, session.begin():
        allocations = await reserve_stock(session, world.shop.id, variant, 10)
    assert [(a.warehouse_id, a.quantity) for a in allocations] == [(large, 8), (small, 2)]
    assert await _reserved(db, variant) == {small: (3, 2), large: (8, 8)}
    async with db.writer() as session, session.begin():
        await release_stock(session, allocations)
    assert await _reserved(db, variant) == {small: (3, 0), large: (8, 0)}


async def test_a_reservation_that_cannot_be_filled_takes_nothing(
    world: World, db: Database
) -> None:
    variant, _ = await _stocked(world, 2, 3)
    with pytest.raises(DomainError) as refused:
        async with db.writer() as session, session.begin():
            await reserve_stock(session, world.shop.id, variant, 6)
    assert [p.code.value for p in refused.value.problems] == ["INSUFFICIENT_STOCK"]
    assert {r for _, r in (await _reserved(db, variant)).values()} == {0}


async def test_another_shops_variant_cannot_be_reserved(
    world: World, other_world: World, db: Database
) -> None:
    variant, _ = await _stocked(world, 5)
    with pytest.raises(DomainError) as refused:
        async with db.writer() as session, session.begin():
            await reserve_stock(session, other_world.shop.id, variant, 1)
    assert [p.code.value for p in refused.value.problems] == ["NOT_FOUND"]


async def test_two_hundred_concurrent_buyers_never_oversell_fifty_units(
    world: World, db: Database
) -> None:
    variant, warehouses = await _stocked(world, 30, 20)

    async def buy() -> str:
        try:
            async with db.writer() as session, session.begin():
                await reserve_stock(session, world.shop.id, variant, 1)
        except DomainError as refused:
            return refused.problems[0].code.value
        return "reserved"

    outcomes = await asyncio.gather(*(buy() for _ in range(200)))
    assert outcomes.count("reserved") == 50
    assert outcomes.count("INSUFFICIENT_STOCK") == 150
    levels = await _reserved(db, variant)
    assert sum(reserved for _, reserved in levels.values()) == 50
    assert all(on_hand >= reserved for on_hand, reserved in levels.values())
    assert set(levels) == set(warehouses)
    async with db.reader() as session:
        assert (
            await session.scalar(
                select(func.sum(InventoryLevel.on_hand)).where(InventoryLevel.variant_id == variant)
            )
            == 50
        )
