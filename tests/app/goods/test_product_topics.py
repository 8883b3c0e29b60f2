"""products/updated: a merchant's change to a product (its fields, archiving it, its variants in
bulk) writes one event in the change's transaction, naming what changed; creating a product, a
change that changes nothing and a refused change write nothing."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from app.events.topics import Topic
from app.goods.models import Product, Variant
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.outbox_rows import outbox_rows, payloads

pytestmark = pytest.mark.anyio

UPDATED = Topic.PRODUCTS_UPDATED
CREATE = """mutation($input: ProductCreateInput!) { productCreate(input: $input) {
  product { id } errors { code } } }"""
UPDATE = """mutation($id: ID!, $input: ProductUpdateInput!) { productUpdate(id: $id, input: $input) {
  product { title } errors { code field } } }"""
ARCHIVE = "mutation($id: ID!) { productArchive(id: $id) { product { status } errors { code } } }"
BULK_CREATE = """mutation($p: ID!, $v: [VariantCreateInput!]!) {
  productVariantsBulkCreate(productId: $p, variants: $v) { variants { id } errors { code } } }"""
BULK_UPDATE = """mutation($p: ID!, $v: [VariantUpdateInput!]!) {
  productVariantsBulkUpdate(productId: $p, variants: $v) { variants { id } errors { code } } }"""
BULK_DELETE = """mutation($p: ID!, $ids: [ID!]!) {
  productVariantsBulkDelete(productId: $p, variantIds: $ids) { deletedVariantIds errors { code } } }"""


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "EUR"}


class _BackOffice:
    def __init__(self, world: World, gql: GraphQLClient, token: str) -> None:
        self.world, self.gql, self.token = world, gql, token

    async def __call__(self, document: str, name: str, **variables: Any) -> dict[str, Any]:
        result = await self.gql(document, variables, shop=self.world.handle, token=self.token)
        return result.ok()[name]  # type: ignore[no-any-return]


@pytest.fixture
async def office(world: World, gql: GraphQLClient) -> _BackOffice:
    return _BackOffice(world, gql, (await world.user("business"))[1])


async def _variants(world: World, product: int) -> list[int]:
    async with world.services.db.reader() as session:
        return list(
            await session.scalars(
                select(Variant.id).where(Variant.product_id == product).order_by(Variant.id)
            )
        )


async def test_creating_a_product_is_not_an_update(world: World, office: _BackOffice) -> None:
    created = await office(
        CREATE,
        "productCreate",
        input={"title": "Tote", "variants": [{"sku": unique("T"), "price": _eur("9.00")}]},
    )
    assert created["errors"] == []
    assert await outbox_rows(world) == []


async def test_an_update_names_the_fields_that_changed(world: World, office: _BackOffice) -> None:
    product = await world.product("Tote")
    category = await world.category("Bags")
    product_gid = gid("Product", product)

    changed = await office(
        UPDATE,
        "productUpdate",
        id=product_gid,
        input={"title": "Big Tote", "brand": "", "categoryId": gid("Category", category)},
    )
    unchanged = await office(UPDATE, "productUpdate", id=product_gid, input={"title": "Big Tote"})

    assert changed["errors"] == unchanged["errors"] == []
    [row] = await outbox_rows(world)
    async with world.services.db.reader() as session:
        stored = await session.get(Product, product)
    assert stored is not None
    assert (row.topic, row.shop_id) == ("products/updated", world.shop.id)
    assert row.payload == {
        "product_id": product,
        "title": "Big Tote",
        "handle": stored.handle,
        "status": "active",
        "updated_fields": ["category", "title"],  # the brand was empty already
    }


async def test_a_refused_update_writes_nothing(world: World, office: _BackOffice) -> None:
    product = await world.product("Tote")
    taken = await world.product("Bag")
    async with world.services.db.reader() as session:
        handle = await session.scalar(select(Product.handle).where(Product.id == taken))

    blank = await office(UPDATE, "productUpdate", id=gid("Product", product), input={"title": " "})
    duplicate = await office(
        UPDATE, "productUpdate", id=gid("Product", product), input={"handle": handle}
    )

    assert blank["product"] is None and blank["errors"]
    assert [e["code"] for e in duplicate["errors"]] == ["DUPLICATE_HANDLE"]
    assert await outbox_rows(world) == []


async def test_archiving_writes_one_event_however_often_it_is_asked(
    world: World, office: _BackOffice
) -> None:
    product = await world.product("Tote")
    for _ in range(2):
        archived = await office(ARCHIVE, "productArchive", id=gid("Product", product))
        assert archived["errors"] == []

    [archived_event] = await payloads(world, UPDATED)
    assert (archived_event["status"], archived_event["updated_fields"]) == ("archived", ["status"])


async def test_bulk_variant_changes_are_product_updates(world: World, office: _BackOffice) -> None:
    product = await world.product("Tote", prices=("10.00", "20.00"))
    first, second = await _variants(world, product)
    product_gid = gid("Product", product)

    created = await office(
        BULK_CREATE,
        "productVariantsBulkCreate",
        p=product_gid,
        v=[{"sku": unique("T"), "price": _eur("30.00"), "optionValues": ["XL"]}],
    )
    updated = await office(
        BULK_UPDATE,
        "productVariantsBulkUpdate",
        p=product_gid,
        v=[
            {"id": gid("ProductVariant", first), "price": _eur("5.00")},
            {"id": gid("ProductVariant", second), "price": _eur("20.00")},  # as it was
        ],
    )
    same = await office(
        BULK_UPDATE,
        "productVariantsBulkUpdate",
        p=product_gid,
        v=[{"id": gid("ProductVariant", first), "price": _eur("5.00")}],
    )
    deleted = await office(
        BULK_DELETE,
        "productVariantsBulkDelete",
        p=product_gid,
        ids=[gid("ProductVariant", second)],
    )

    assert created["errors"] == updated["errors"] == same["errors"] == deleted["errors"] == []
    [third] = [v for v in await _variants(world, product) if v not in (first, second)]
    events = await payloads(world, UPDATED)
    assert [(e["variant_change"], e["variant_ids"], e["updated_fields"]) for e in events] == [
        ("created", [third], ["variants"]),
        ("updated", [first], ["variants"]),
        ("deleted", [second], ["variants"]),
    ]
    assert all(e["product_id"] == product and e["title"] == "Tote" for e in events)


async def test_refused_bulk_variant_changes_write_nothing(
    world: World, office: _BackOffice
) -> None:
    product = await world.product("Tote", prices=("10.00", "20.00"))
    first, _ = await _variants(world, product)
    async with world.services.db.reader() as session:
        sku = await session.scalar(select(Variant.sku).where(Variant.id == first))
    product_gid = gid("Product", product)

    clash = await office(
        BULK_CREATE,
        "productVariantsBulkCreate",
        p=product_gid,
        v=[{"sku": sku, "price": _eur("30.00"), "optionValues": ["XL"]}],
    )
    negative = await office(
        BULK_UPDATE,
        "productVariantsBulkUpdate",
        p=product_gid,
        v=[{"id": gid("ProductVariant", first), "price": _eur("-1.00")}],
    )
    missing = await office(
        BULK_DELETE,
        "productVariantsBulkDelete",
        p=product_gid,
        ids=[gid("ProductVariant", 999_999_999)],
    )

    assert [e["code"] for e in clash["errors"]] == ["DUPLICATE_SKU"]
    assert [e["code"] for e in negative["errors"]] == ["INVALID"]
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    assert await outbox_rows(world) == []
