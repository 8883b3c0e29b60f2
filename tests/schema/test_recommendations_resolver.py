"""``resolve_recommendations`` (the resolver behind ``Product.recommendations``), driven with a
request context of its own so it runs before app/main.py wires the field: the extension's
products when every one is an active product of the shop, else the built-in list and a
``malformed`` record; a page of products costs the same statements as one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from graphql import GraphQLError

from app.config import Settings
from app.db import Database
from app.goods.models import ProductStatus
from app.identity.models import Shop
from marketplace.extensions import Extensions
from schema.goods.recommendations import resolve_recommendations
from tests.support.extension_apps import extension_app, failures_of, running_extensions
from tests.support.factories import World, gid
from tests.support.receiver import Receiver
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio


@dataclass
class _Context:
    """What the resolver reads of ``AgoraContext``."""

    db: Database
    shop: Shop
    extensions: Extensions | None
    services: Any = field(init=False)

    def __post_init__(self) -> None:
        self.services = SimpleNamespace(extensions=self.extensions)

    def require_shop(self) -> Shop:
        return self.shop


def _info(world: World, extensions: Extensions | None) -> Any:
    """A new request: a new context, so a new loader."""
    return SimpleNamespace(context=_Context(world.services.db, world.shop, extensions))


async def _titles(
    world: World, extensions: Extensions | None, product: int, first: int | None = 10
) -> list[str]:
    found = await resolve_recommendations(_info(world, extensions), product, world.shop.id, first)
    return [p.title for p in found]


async def test_the_extensions_products_in_its_order(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    product = await world.product("Tent")
    stove, mat, lamp = [await world.product(title) for title in ("Stove", "Mat", "Lamp")]
    made = await extension_app(world, {"goods.recommendations": receiver.endpoint("/recommend")})
    receiver.answer = {"products": [gid("Product", pk) for pk in (lamp, product, stove, mat)]}
    async with running_extensions(world, settings) as extensions:
        # The product itself is left out; then the first two.
        assert await _titles(world, extensions, product, first=2) == ["Lamp", "Stove"]
    [call] = receiver.requests
    assert call.signed_by(made.webhook_secret)
    assert call.headers["x-agora-extension-point"] == "goods.recommendations"
    assert call.json() == {
        "point": "goods.recommendations",
        "shop_id": world.shop.id,
        "product_id": gid("Product", product),
        "first": 2,
    }
    assert await failures_of(world, made.app.id) == []


@pytest.mark.parametrize("bad", ["other_shop", "draft", "missing", "not_a_product", "garbage"])
async def test_an_answer_naming_a_product_it_may_not_is_ignored_and_recorded(
    world: World, other_world: World, settings: Settings, receiver: Receiver, bad: str
) -> None:
    category = await world.category("Camping")
    product = await world.product("Tent", category=category)
    await world.product("Stove", category=category)
    ok = await world.product("Mat")
    named = {
        "other_shop": gid("Product", await other_world.product("Elsewhere")),
        "draft": gid("Product", await world.product("Soon", status=ProductStatus.DRAFT)),
        "missing": gid("Product", 10**12),
        "not_a_product": gid("Category", category),
        "garbage": "not-an-id",
    }[bad]
    made = await extension_app(world, {"goods.recommendations": receiver.endpoint("/recommend")})
    receiver.answer = {"products": [gid("Product", ok), named]}
    async with running_extensions(world, settings) as extensions:
        # The built-in list: the category's other products, then the shop's newest.
        assert await _titles(world, extensions, product) == ["Stove", "Mat"]
    [failure] = await failures_of(world, made.app.id)
    assert (failure.kind, failure.point) == ("malformed", "goods.recommendations")
    assert failure.detail.startswith(f"products.1: {named} "), failure.detail


@pytest.mark.parametrize(
    "answer",
    [{"products": "x"}, {"products": ["a"] * 2}, {"products": [str(i) for i in range(21)]}, {}],
)
async def test_a_misshapen_answer_is_ignored_and_recorded(
    world: World, settings: Settings, receiver: Receiver, answer: Any
) -> None:
    product = await world.product("Tent")
    await world.product("Stove")
    made = await extension_app(world, {"goods.recommendations": receiver.endpoint("/recommend")})
    receiver.answer = answer
    async with running_extensions(world, settings) as extensions:
        assert await _titles(world, extensions, product) == ["Stove"]
    assert [f.kind for f in await failures_of(world, made.app.id)] == ["malformed"]


async def test_the_built_in_list_is_the_category_then_the_shops_newest(world: World) -> None:
    camping = await world.category("Camping")
    other = await world.category("Kitchen")
    old_tent = await world.product("Old tent", category=camping)
    await world.product("Pan", category=other)
    tent = await world.product("Tent", category=camping)
    await world.product("Draft tent", category=camping, status=ProductStatus.DRAFT)
    await world.product("Stove", category=camping)
    await world.product("Archived", status=ProductStatus.ARCHIVED)
    await world.product("Mug")
    assert await _titles(world, None, tent) == ["Stove", "Old tent", "Mug", "Pan"]
    assert await _titles(world, None, tent, first=1) == ["Stove"]
    assert await _titles(world, None, old_tent, first=3) == ["Stove", "Tent", "Mug"]
    loose = await world.product("Uncategorised")
    assert await _titles(world, None, loose, first=2) == ["Mug", "Stove"]


async def test_a_page_of_products_costs_the_statements_of_one(
    world: World, settings: Settings, receiver: Receiver, statements: StatementCounter
) -> None:
    camping = await world.category("Camping")
    products = [await world.product(f"Thing {i}", category=camping) for i in range(6)]
    await extension_app(world, {"goods.recommendations": receiver.endpoint("/recommend")})
    receiver.answer = {"products": [gid("Product", products[4]), gid("Product", products[5])]}

    async def page(count: int) -> tuple[list[list[str]], int]:
        statements.reset()
        info = _info(world, extensions)
        lists = await asyncio.gather(
            *(resolve_recommendations(info, pk, world.shop.id, 3) for pk in products[:count])
        )
        reads = [s for s in statements.statements if s.lstrip().upper().startswith("SELECT")]
        return [[p.title for p in found] for found in lists], len(reads)

    async with running_extensions(world, settings, lookup_ttl_seconds=60) as extensions:
        await extensions.caller.endpoint(world.shop.id, "goods.recommendations")  # cached
        # Every answer usable: one statement checks them all.
        assert await page(1) == ([["Thing 4", "Thing 5"]], 1)
        titles, reads = await page(6)
        assert (titles[0], titles[5], reads) == (["Thing 4", "Thing 5"], ["Thing 4"], 1)
        # Some answers unusable: one more statement makes all their built-in lists.
        receiver.script = ["garbage"] * 3
        titles, reads = await page(6)
        assert reads == 2
        assert sum(t == ["Thing 5", "Thing 4", "Thing 3"] for t in titles) >= 1
    assert len(receiver.requests) == 13


async def test_first_is_bounded(world: World) -> None:
    product = await world.product("Tent")
    others = [await world.product(f"Thing {i}") for i in range(12)]
    assert len(others) == 12
    assert await _titles(world, None, product, first=0) == []
    assert len(await _titles(world, None, product, first=None)) == 10  # null: the default
    with pytest.raises(GraphQLError) as refused:
        await _titles(world, None, product, first=21)
    assert refused.value.extensions == {"code": "BAD_USER_INPUT", "argument": "first"}
