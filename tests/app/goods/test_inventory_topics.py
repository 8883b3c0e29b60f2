"""inventory/below_threshold: written when available stock (on hand - reserved) falls from at
least a level's threshold to under it, by an adjustment or a reservation, in that change's
transaction; edge-triggered, so a level already low stays quiet until it has recovered. The
threshold is set through ``inventoryAdjust``, under its idempotency key."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.events.topics import Topic
from app.goods.models import InventoryLevel, Variant
from app.goods.reservations import reserve_stock
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.outbox_rows import outbox_rows, payloads
from tests.support.shipping import make_carrier, order_lines, ship
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

ADJUST = """
mutation Adjust($input: InventoryAdjustInput!) {
  inventoryAdjust(input: $input) {
    adjustment { delta onHandAfter }
    variant { inventoryLevels { available lowStockThreshold } }
    replayed
    errors { field code message }
  }
}
"""
LOW = Topic.INVENTORY_BELOW_THRESHOLD


class _Stock:
    """One variant in one warehouse of the world's shop, adjusted as the back office does."""

    def __init__(
        self, world: World, gql: GraphQLClient, token: str, product: int, warehouse: int
    ) -> None:
        self.world, self.gql, self.token = world, gql, token
        self.product, self.warehouse = product, warehouse
        self.variant, self.sku = 0, ""

    async def adjust(
        self, delta: int, *, threshold: int | None = None, key: str | None = None
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "variantId": gid("ProductVariant", self.variant),
            "warehouseId": gid("Warehouse", self.warehouse),
            "delta": delta,
            "reason": "CORRECTION",
            "idempotencyKey": key or uuid.uuid4().hex,
        }
        if threshold is not None:
            spec["lowStockThreshold"] = threshold
        result = await self.gql(ADJUST, {"input": spec}, shop=self.world.handle, token=self.token)
        return result.ok()["inventoryAdjust"]  # type: ignore[no-any-return]

    async def level(self) -> InventoryLevel:
        async with self.world.services.db.reader() as session:
            found = await session.scalar(
                select(InventoryLevel).where(
                    InventoryLevel.variant_id == self.variant,
                    InventoryLevel.warehouse_id == self.warehouse,
                )
            )
        assert found is not None
        return found


async def _variant_of(world: World, product: int) -> tuple[int, str]:
    async with world.services.db.reader() as session:
        row = (
            await session.execute(
                select(Variant.id, Variant.sku).where(Variant.product_id == product)
            )
        ).one()
    return int(row.id), str(row.sku)


@pytest.fixture
async def stock(world: World, gql: GraphQLClient) -> _Stock:
    _, token = await world.user("business")
    made = _Stock(world, gql, token, await world.product(), await world.warehouse())
    made.variant, made.sku = await _variant_of(world, made.product)
    return made


async def _lows(world: World) -> list[tuple[int, int]]:
    """(available, threshold) of each inventory/below_threshold written, in order."""
    return [(p["available"], p["threshold"]) for p in await payloads(world, LOW)]


async def test_adjustments_fire_once_per_fall_below_the_threshold(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(10)  # the default threshold is 5
    await stock.adjust(-4)  # 6: still at least 5
    assert await _lows(world) == []

    await stock.adjust(-2)  # 4: below
    await stock.adjust(-1)  # 3: still below, no news
    await stock.adjust(-3)  # 0
    assert await _lows(world) == [(4, 5)]

    await stock.adjust(5)  # back to 5: not low any more
    await stock.adjust(-1)  # 4: below again
    assert await _lows(world) == [(4, 5), (4, 5)]

    [row, _] = await outbox_rows(world, LOW)
    assert row.shop_id == world.shop.id
    assert row.payload == {
        "variant_id": stock.variant,
        "product_id": stock.product,
        "warehouse_id": stock.warehouse,
        "sku": stock.sku,
        "available": 4,
        "on_hand": 4,
        "reserved": 0,
        "threshold": 5,
    }


async def test_one_fall_straight_through_the_threshold_fires_once(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(20)
    await stock.adjust(-19)
    assert await _lows(world) == [(1, 5)]


async def test_a_threshold_set_with_inventory_adjust_is_shown_and_used(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(20)
    payload = await stock.adjust(0, threshold=12)  # only the threshold changes

    assert payload["errors"] == []
    assert payload["adjustment"] == {"delta": 0, "onHandAfter": 20}
    assert payload["variant"]["inventoryLevels"] == [{"available": 20, "lowStockThreshold": 12}]
    assert (await stock.level()).low_stock_threshold == 12

    await stock.adjust(-8)  # 12: at the threshold, not under
    await stock.adjust(-1)  # 11
    assert await _lows(world) == [(11, 12)]


async def test_setting_a_threshold_above_the_stock_is_not_a_fall(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(8)
    await stock.adjust(0, threshold=10)
    assert await _lows(world) == []
    # Lowering and setting at once: the new threshold decides whether the level fell.
    await stock.adjust(0, threshold=3)
    await stock.adjust(-6, threshold=7)  # 8 -> 2, and 7 is the line
    assert await _lows(world) == [(2, 7)]


async def test_a_threshold_of_zero_turns_the_alert_off(world: World, stock: _Stock) -> None:
    await stock.adjust(10, threshold=0)
    await stock.adjust(-10)
    assert await _lows(world) == []


async def test_a_new_level_starts_with_the_default_or_the_given_threshold(
    world: World, stock: _Stock
) -> None:
    payload = await stock.adjust(0, threshold=3)  # no stock yet: the level is made for it
    assert payload["errors"] == []
    level = await stock.level()
    assert (level.on_hand, level.low_stock_threshold) == (0, 3)
    assert await _lows(world) == []


async def test_a_refused_adjustment_writes_no_event_and_changes_nothing(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(10)

    negative = await stock.adjust(-7, threshold=-1)
    zero = await stock.adjust(0)
    below_zero = await stock.adjust(-11)

    assert [(e["code"], e["field"]) for e in negative["errors"]] == [
        ("INVALID_THRESHOLD", ["input", "lowStockThreshold"])
    ]
    assert negative["adjustment"] is None
    assert [e["code"] for e in zero["errors"]] == ["INVALID"]
    assert [e["code"] for e in below_zero["errors"]] == ["BELOW_RESERVED"]
    level = await stock.level()
    assert (level.on_hand, level.low_stock_threshold) == (10, 5)
    assert await _lows(world) == []


async def test_the_threshold_is_part_of_the_idempotency_fingerprint(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(10)
    key = unique("key")

    first = await stock.adjust(-6, threshold=4, key=key)
    replay = await stock.adjust(-6, threshold=4, key=key)
    other = await stock.adjust(-6, threshold=3, key=key)
    without = await stock.adjust(-6, key=key)

    assert first["errors"] == [] and first["replayed"] is False
    assert replay["errors"] == [] and replay["replayed"] is True
    assert [e["code"] for e in other["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert [e["code"] for e in without["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    level = await stock.level()
    assert (level.on_hand, level.low_stock_threshold) == (4, 4)
    assert await _lows(world) == []  # 10 -> 4 with the line at 4: not under it


async def test_reservations_fire_on_the_fall_and_roll_back_with_their_transaction(
    world: World, stock: _Stock
) -> None:
    await stock.adjust(10)

    async with world.services.db.writer() as session, session.begin():
        await reserve_stock(session, world.shop.id, stock.variant, 5)  # 5 left: not under
        await reserve_stock(session, world.shop.id, stock.variant, 2)  # 3: under
        await reserve_stock(session, world.shop.id, stock.variant, 1)  # 2: still under
    assert await _lows(world) == [(3, 5)]
    [low] = await payloads(world, LOW)
    assert (low["on_hand"], low["reserved"]) == (10, 7)

    await stock.adjust(5)  # 15 on hand, 8 reserved: 7 free

    async def two_reservations() -> None:
        async with world.services.db.writer() as session, session.begin():
            await reserve_stock(session, world.shop.id, stock.variant, 4)  # 3: under again
            await reserve_stock(session, world.shop.id, stock.variant, 5)  # only 3 left

    with pytest.raises(DomainError):
        await two_reservations()
    assert await _lows(world) == [(3, 5)]
    assert (await stock.level()).reserved == 8


async def test_checkout_reservations_fire_in_the_checkout_transaction(world: World) -> None:
    order = await place_order(world, quantity=7)  # 10 in stock: 3 left
    [created] = await payloads(world, Topic.ORDERS_CREATED)
    [low] = await payloads(world, LOW)
    assert created["order_id"] == order
    assert (low["variant_id"], low["available"], low["threshold"]) == (
        created["lines"][0]["variant_id"],
        3,
        5,
    )
    assert [row.topic for row in await outbox_rows(world)] == [
        "inventory/below_threshold",
        "orders/created",
    ]


async def test_shipping_reserved_stock_fires_nothing_but_moving_a_hold_can(world: World) -> None:
    """Shipping from the warehouse that holds the units lowers on hand and reserved alike;
    shipping from another warehouse reserves there first, which can take it below."""
    code, _ = await make_carrier(world)
    order = await place_order(world, paid=True, quantity=2)  # 10 on hand: 8 free
    [(line, quantity)] = await order_lines(world, order)
    async with world.services.db.reader() as session:
        variant = int(
            await session.scalar(
                select(Variant.id)
                .join(InventoryLevel, InventoryLevel.variant_id == Variant.id)
                .where(Variant.shop_id == world.shop.id)
            )
        )
        home = int(
            await session.scalar(
                select(InventoryLevel.warehouse_id).where(InventoryLevel.variant_id == variant)
            )
        )
    other = await world.warehouse()
    await world.stock(variant, other, 5)

    await ship(world, order, home, code, f"TN{uuid.uuid4().hex[:10]}", [(line, 1)])
    assert await _lows(world) == []
    await ship(world, order, other, code, f"TN{uuid.uuid4().hex[:10]}", [(line, quantity - 1)])

    [low] = await payloads(world, LOW)
    assert (low["warehouse_id"], low["available"], low["threshold"]) == (other, 4, 5)
    assert low["sku"] and low["variant_id"] == variant
    [row] = await outbox_rows(world, LOW)
    assert row.shop_id == world.shop.id
