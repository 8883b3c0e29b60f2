"""Stock adjustments through HTTP: idempotent, never below what orders have reserved."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from app.goods.models import InventoryAdjustment, InventoryLevel, Variant
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio

ADJUST = """
mutation Adjust($input: InventoryAdjustInput!) {
  inventoryAdjust(input: $input) {
    adjustment { id delta onHandAfter }
    variant { quantityAvailable }
    replayed
    errors { field code message }
  }
}
"""


async def _count(world: World, model: type, *where: object) -> int:
    async with world.services.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def _adjust_input(world: World, delta: int, key: str) -> tuple[dict[str, object], int, int]:
    product = await world.product()
    warehouse = await world.warehouse()
    async with world.services.db.reader() as session:
        variant = await session.scalar(select(Variant.id).where(Variant.product_id == product))
    assert variant is not None
    return (
        {
            "variantId": gid("ProductVariant", variant),
            "warehouseId": gid("Warehouse", warehouse),
            "delta": delta,
            "reason": "RECEIVED",
            "idempotencyKey": key,
        },
        variant,
        warehouse,
    )


async def test_inventory_adjust_replays_the_first_result(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    payload, variant, _ = await _adjust_input(world, 10, unique("key"))
    first = (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    again = (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert first["errors"] == again["errors"] == []
    assert first["replayed"] is False and again["replayed"] is True
    assert again["adjustment"] == first["adjustment"]
    assert first["variant"]["quantityAvailable"] == 10
    assert (
        await _count(world, InventoryAdjustment, InventoryAdjustment.shop_id == world.shop.id) == 1
    )
    async with world.services.db.reader() as session:
        assert (
            await session.scalar(
                select(InventoryLevel.on_hand).where(InventoryLevel.variant_id == variant)
            )
            == 10
        )


async def test_concurrent_replays_apply_once(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    payload, variant, _ = await _adjust_input(world, 7, unique("key"))
    results = await asyncio.gather(
        *(gql(ADJUST, {"input": payload}, shop=world.handle, token=token) for _ in range(8))
    )
    adjustments = {r.ok()["inventoryAdjust"]["adjustment"]["id"] for r in results}
    assert len(adjustments) == 1
    async with world.services.db.reader() as session:
        assert (
            await session.scalar(
                select(InventoryLevel.on_hand).where(InventoryLevel.variant_id == variant)
            )
            == 7
        )


async def test_same_key_with_other_input_is_a_conflict(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    key = unique("key")
    payload, _, _ = await _adjust_input(world, 5, key)
    assert (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]["errors"] == []
    changed = {**payload, "delta": 6}
    result = (await gql(ADJUST, {"input": changed}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert result["adjustment"] is None
    assert result["errors"] == [
        {
            "field": ["input", "idempotencyKey"],
            "code": "IDEMPOTENCY_CONFLICT",
            "message": "This idempotency key was used with different input.",
        }
    ]


async def test_stock_never_goes_below_reserved(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    payload, variant, warehouse = await _adjust_input(world, 10, unique("key"))
    assert (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]["errors"] == []
    async with world.services.db.writer() as session, session.begin():
        level = await session.scalar(
            select(InventoryLevel).where(InventoryLevel.variant_id == variant)
        )
        assert level is not None
        level.reserved = 4
    take = {**payload, "delta": -7, "reason": "SHRINKAGE", "idempotencyKey": unique("key")}
    result = (await gql(ADJUST, {"input": take}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert [e["code"] for e in result["errors"]] == ["BELOW_RESERVED"]
    take["delta"], take["idempotencyKey"] = -6, unique("key")
    result = (await gql(ADJUST, {"input": take}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert result["errors"] == [] and result["adjustment"]["onHandAfter"] == 4
    assert result["variant"]["quantityAvailable"] == 0
    fresh = {
        **payload,
        "warehouseId": gid("Warehouse", await world.warehouse()),
        "delta": -1,
        "idempotencyKey": unique("key"),
    }
    result = (await gql(ADJUST, {"input": fresh}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert [e["code"] for e in result["errors"]] == ["BELOW_RESERVED"]
    assert warehouse


async def test_a_failed_adjustment_leaves_its_key_free(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    payload, _, _ = await _adjust_input(world, -3, unique("key"))
    refused = (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert [e["code"] for e in refused["errors"]] == ["BELOW_RESERVED"]
    retry = {**payload, "delta": 3}
    accepted = (await gql(ADJUST, {"input": retry}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert accepted["errors"] == [] and accepted["replayed"] is False


@pytest.mark.parametrize("key", ["", "   ", "k" * 201])
async def test_an_unusable_idempotency_key_is_refused(
    world: World, gql: GraphQLClient, key: str
) -> None:
    _, token = await world.user("business")
    payload, variant, _ = await _adjust_input(world, 5, key)
    result = (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()[
        "inventoryAdjust"
    ]
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("INVALID", ["input", "idempotencyKey"])
    ]
    assert await _count(world, InventoryLevel, InventoryLevel.variant_id == variant) == 0
