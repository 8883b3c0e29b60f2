"""Catalog mutations through HTTP, as a back-office frontend sends them."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.goods.models import Product, Variant
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio

PRODUCT_CREATE = """
mutation Create($input: ProductCreateInput!) {
  productCreate(input: $input) {
    product { id handle title status priceRange { min { amount currencyCode } max { amount } }
              variants { id sku price { amount currencyCode } } images { url position } }
    errors { field message code }
  }
}
"""

VARIANTS_CREATE = """
mutation Add($productId: ID!, $variants: [VariantCreateInput!]!) {
  productVariantsBulkCreate(productId: $productId, variants: $variants) {
    variants { sku } errors { field code message }
  }
}
"""


def money(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currencyCode": currency}


async def _count(world: World, model: type, *where: object) -> int:
    async with world.services.db.reader() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def test_business_user_creates_a_product_with_variants_and_images(
    world: World, gql: GraphQLClient
) -> None:
    _, token = await world.user("business")
    payload = {
        "title": "Trail Runner",
        "status": "ACTIVE",
        "optionNames": ["Size"],
        "images": [{"url": "https://img.example/a.jpg"}, {"url": "https://img.example/b.jpg"}],
        "variants": [
            {"sku": unique("TR"), "price": money("89.90"), "optionValues": ["42"]},
            {"sku": unique("TR"), "price": money("94.00"), "optionValues": ["43"]},
        ],
    }
    result = (await gql(PRODUCT_CREATE, {"input": payload}, shop=world.handle, token=token)).ok()
    created = result["productCreate"]
    assert created["errors"] == []
    product = created["product"]
    assert product["handle"] == "trail-runner"
    assert product["priceRange"] == {
        "min": {"amount": "89.90", "currencyCode": "EUR"},
        "max": {"amount": "94.00"},
    }
    assert [i["position"] for i in product["images"]] == [0, 1]
    assert [v["price"]["amount"] for v in product["variants"]] == ["89.90", "94.00"]


async def test_a_generated_handle_never_collides(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    handles = []
    for _ in range(3):
        result = await gql(
            PRODUCT_CREATE, {"input": {"title": "Same Name"}}, shop=world.handle, token=token
        )
        handles.append(result.ok()["productCreate"]["product"]["handle"])
    assert handles == ["same-name", "same-name-2", "same-name-3"]


async def test_duplicate_sku_is_refused_and_nothing_is_written(
    world: World, gql: GraphQLClient
) -> None:
    _, token = await world.user("business")
    sku = unique("DUP")
    first = await gql(
        PRODUCT_CREATE,
        {"input": {"title": "One", "variants": [{"sku": sku, "price": money("1.00")}]}},
        shop=world.handle,
        token=token,
    )
    assert first.ok()["productCreate"]["errors"] == []
    second = await gql(
        PRODUCT_CREATE,
        {"input": {"title": "Two", "variants": [{"sku": sku, "price": money("2.00")}]}},
        shop=world.handle,
        token=token,
    )
    payload = second.ok()["productCreate"]
    assert payload["product"] is None
    assert payload["errors"] == [
        {
            "field": ["input", "variants", "0", "sku"],
            "message": f"SKU '{sku}' is in use.",
            "code": "DUPLICATE_SKU",
        }
    ]
    assert await _count(world, Product, Product.shop_id == world.shop.id) == 1


async def test_duplicate_sku_within_one_request_is_refused(
    world: World, gql: GraphQLClient
) -> None:
    _, token = await world.user("business")
    product = await world.product()
    sku = unique("TWIN")
    result = await gql(
        VARIANTS_CREATE,
        {
            "productId": gid("Product", product),
            "variants": [
                {"sku": sku, "price": money("1.00"), "optionValues": []},
                {"sku": sku, "price": money("1.00"), "optionValues": []},
            ],
        },
        shop=world.handle,
        token=token,
    )
    codes = {e["code"] for e in result.ok()["productVariantsBulkCreate"]["errors"]}
    assert "DUPLICATE_SKU" in codes
    assert await _count(world, Variant, Variant.product_id == product) == 1


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        ("-1.00", "EUR", "INVALID"),
        ("1.001", "EUR", "INVALID"),
        ("1.5", "JPY", "CURRENCY_MISMATCH"),
        ("abc", "EUR", "INVALID"),
        ("1e30", "EUR", "INVALID"),
    ],
)
async def test_a_bad_price_is_refused_with_a_code(
    world: World, gql: GraphQLClient, amount: str, currency: str, code: str
) -> None:
    _, token = await world.user("business")
    result = await gql(
        PRODUCT_CREATE,
        {
            "input": {
                "title": "Priced",
                "variants": [{"sku": unique("P"), "price": money(amount, currency)}],
            }
        },
        shop=world.handle,
        token=token,
    )
    payload = result.ok()["productCreate"]
    assert payload["product"] is None
    assert [e["code"] for e in payload["errors"]] == [code]
    assert payload["errors"][0]["field"][:4] == ["input", "variants", "0", "price"]
    assert await _count(world, Product, Product.shop_id == world.shop.id) == 0


async def test_zero_decimal_currencies_take_whole_amounts(app: object, gql: GraphQLClient) -> None:
    from tests.support.factories import make_world

    yen = await make_world(app, currency="JPY")  # type: ignore[arg-type]
    _, token = await yen.user("business")
    result = await gql(
        PRODUCT_CREATE,
        {
            "input": {
                "title": "Tea",
                "variants": [{"sku": unique("T"), "price": money("1200", "JPY")}],
            }
        },
        shop=yen.handle,
        token=token,
    )
    assert result.ok()["productCreate"]["product"]["priceRange"]["min"] == {
        "amount": "1200",
        "currencyCode": "JPY",
    }


async def test_too_many_images_and_variants_are_refused(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    images = [{"url": f"https://img.example/{i}.jpg"} for i in range(21)]
    result = await gql(
        PRODUCT_CREATE,
        {"input": {"title": "Gallery", "images": images}},
        shop=world.handle,
        token=token,
    )
    assert [e["code"] for e in result.ok()["productCreate"]["errors"]] == ["TOO_MANY_IMAGES"]
    product = await world.product()
    many = [{"sku": unique("V"), "price": money("1.00")} for _ in range(100)]
    result = await gql(
        VARIANTS_CREATE,
        {"productId": gid("Product", product), "variants": many},
        shop=world.handle,
        token=token,
    )
    assert "TOO_MANY_VARIANTS" in {
        e["code"] for e in result.ok()["productVariantsBulkCreate"]["errors"]
    }
    assert await _count(world, Variant, Variant.product_id == product) == 1


@pytest.mark.parametrize("bad_id", ["UHJvZHVjdDo5OTk5OTk5", "garbage", "Q2F0ZWdvcnk6MQ"])
async def test_an_unknown_or_mistyped_id_is_not_found(
    world: World, gql: GraphQLClient, bad_id: str
) -> None:
    _, token = await world.user("business")
    update = """mutation($id: ID!) { productUpdate(id: $id, input: {title: "X"}) {
        product { id } errors { field code } } }"""
    payload = (await gql(update, {"id": bad_id}, shop=world.handle, token=token)).ok()[
        "productUpdate"
    ]
    assert payload == {"product": None, "errors": [{"field": ["id"], "code": "NOT_FOUND"}]}
    query = "query($id: ID!) { product(id: $id) { id } node(id: $id) { id } }"
    assert (await gql(query, {"id": bad_id}, shop=world.handle)).ok() == {
        "product": None,
        "node": None,
    }


async def test_update_archive_and_variant_edits(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    category = await world.category("Bags")
    product = await world.product("Tote", prices=("10.00", "20.00"))
    update = """mutation($id: ID!, $cat: ID) { productUpdate(id: $id, input: {title: "Big Tote", categoryId: $cat}) {
        product { title category { name } } errors { code } } }"""
    payload = (
        await gql(
            update,
            {"id": gid("Product", product), "cat": gid("Category", category)},
            shop=world.handle,
            token=token,
        )
    ).ok()
    assert payload["productUpdate"]["product"] == {
        "title": "Big Tote",
        "category": {"name": "Bags"},
    }

    async with world.services.db.reader() as session:
        variant_ids = list(
            await session.scalars(
                select(Variant.id).where(Variant.product_id == product).order_by(Variant.id)
            )
        )
    bulk_update = """mutation($p: ID!, $v: [VariantUpdateInput!]!) { productVariantsBulkUpdate(productId: $p, variants: $v) {
        product { priceRange { min { amount } max { amount } } } variants { price { amount } } errors { code field } } }"""
    changes = [{"id": gid("ProductVariant", variant_ids[0]), "price": money("5.00")}]
    payload = (
        await gql(
            bulk_update,
            {"p": gid("Product", product), "v": changes},
            shop=world.handle,
            token=token,
        )
    ).ok()
    result = payload["productVariantsBulkUpdate"]
    assert result["errors"] == []
    assert result["variants"] == [{"price": {"amount": "5.00"}}]
    assert result["product"]["priceRange"] == {
        "min": {"amount": "5.00"},
        "max": {"amount": "20.00"},
    }

    bulk_delete = """mutation($p: ID!, $ids: [ID!]!) { productVariantsBulkDelete(productId: $p, variantIds: $ids) {
        product { priceRange { min { amount } } } deletedVariantIds errors { code } } }"""
    payload = (
        await gql(
            bulk_delete,
            {"p": gid("Product", product), "ids": [gid("ProductVariant", variant_ids[0])]},
            shop=world.handle,
            token=token,
        )
    ).ok()
    assert payload["productVariantsBulkDelete"]["product"]["priceRange"] == {
        "min": {"amount": "20.00"}
    }

    archive = (
        """mutation($id: ID!) { productArchive(id: $id) { product { status } errors { code } } }"""
    )
    for _ in range(2):  # idempotent by state
        payload = (
            await gql(archive, {"id": gid("Product", product)}, shop=world.handle, token=token)
        ).ok()
        assert payload["productArchive"] == {"product": {"status": "ARCHIVED"}, "errors": []}
    assert (
        await gql(
            "query($id: ID!) { product(id: $id) { id } }",
            {"id": gid("Product", product)},
            shop=world.handle,
        )
    ).ok() == {"product": None}


async def test_categories_form_a_tree_without_cycles(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    create = """mutation($input: CategoryInput!) { categoryCreate(input: $input) {
        category { id name parent { name } } errors { code field } } }"""
    root = (
        await gql(create, {"input": {"name": "Clothing"}}, shop=world.handle, token=token)
    ).ok()["categoryCreate"]["category"]
    child = (
        await gql(
            create,
            {"input": {"name": "Shirts", "parentId": root["id"]}},
            shop=world.handle,
            token=token,
        )
    ).ok()["categoryCreate"]["category"]
    assert child["parent"] == {"name": "Clothing"}
    move = """mutation($id: ID!, $input: CategoryInput!) { categoryUpdate(id: $id, input: $input) {
        category { parent { name } } errors { code field } } }"""
    payload = (
        await gql(
            move,
            {"id": root["id"], "input": {"parentId": child["id"]}},
            shop=world.handle,
            token=token,
        )
    ).ok()
    assert payload["categoryUpdate"]["errors"] == [
        {"code": "CATEGORY_CYCLE", "field": ["input", "parentId"]}
    ]
    tree = (
        await gql("{ categories { name children { name parent { name } } } }", shop=world.handle)
    ).ok()
    assert tree["categories"] == [
        {"name": "Clothing", "children": [{"name": "Shirts", "parent": {"name": "Clothing"}}]}
    ]
    payload = (
        await gql(
            move, {"id": child["id"], "input": {"parentId": None}}, shop=world.handle, token=token
        )
    ).ok()
    assert payload["categoryUpdate"] == {"category": {"parent": None}, "errors": []}
