"""The floor for the load benchmark: the storefront listing written by hand.

A Starlette endpoint that answers the GraphQL listing query of ``bench.graphql_load`` with the
very same JSON, using the minimal SQL (SQLAlchemy Core, three statements on one connection: the
page with its categories, images, variants with summed stock) and no GraphQL at all. Whatever
the real endpoint costs beyond this is the price of GraphQL, the ORM and the middleware, which
is what the benchmark's ratio shows. It shares the app's engine settings (``app.db``) so the
comparison is about the request path, not about connection pooling.

Run it as its own server: ``uvicorn bench.floor:create_app --factory`` with ``AGORA_*`` set.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import Settings
from app.db import Database
from app.goods.models import (
    Category,
    InventoryLevel,
    Product,
    ProductImage,
    ProductStatus,
    Variant,
)
from app.identity.models import Shop
from app.money import Money as MoneyValue

__all__ = ["create_app", "listing"]

SHOP_HEADER = "x-agora-shop"
DEFAULT_FIRST = 50


def _id(type_name: str, pk: int) -> str:
    """The GraphQL global ID, written out here so the floor does not import the schema."""
    return base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")


def _money(minor_units: int, currency: str) -> dict[str, str]:
    return {
        "amount": MoneyValue(minor_units, currency).to_decimal_string(),
        "currencyCode": currency,
    }


async def _related(
    connection: AsyncConnection, pks: list[int]
) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
    """Images and stocked variants of the page's products, grouped by product."""
    images: dict[int, list[dict[str, Any]]] = defaultdict(list)
    image_rows = await connection.execute(
        select(ProductImage.product_id, ProductImage.url, ProductImage.alt_text)
        .where(ProductImage.product_id.in_(pks))
        .order_by(ProductImage.product_id, ProductImage.position)
    )
    for product_id, url, alt_text in image_rows:
        images[product_id].append({"url": url, "altText": alt_text})
    stock = (
        select(func.sum(InventoryLevel.on_hand - InventoryLevel.reserved))
        .where(InventoryLevel.variant_id == Variant.id)
        .correlate(Variant)
        .scalar_subquery()
    )
    variants: dict[int, list[dict[str, Any]]] = defaultdict(list)
    variant_rows = await connection.execute(
        select(
            Variant.product_id,
            Variant.id,
            Variant.sku,
            Variant.price_amount,
            Variant.currency,
            func.coalesce(stock, 0),
        )
        .where(Variant.product_id.in_(pks))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    )
    for product_id, pk, sku, amount, currency, quantity in variant_rows:
        variants[product_id].append(
            {
                "id": _id("ProductVariant", pk),
                "sku": sku,
                "price": _money(amount, currency),
                "quantityAvailable": int(quantity),
            }
        )
    return images, variants


async def listing(
    connection: AsyncConnection, shop_id: int, currency: str, first: int
) -> dict[str, Any]:
    """The listing query's ``data``: active products by title, with the same fields."""
    rows = (
        await connection.execute(
            select(
                Product.id,
                Product.handle,
                Product.title,
                Product.price_min,
                Product.price_max,
                Category.name,
            )
            .outerjoin(Category, Category.id == Product.category_id)
            .where(Product.shop_id == shop_id, Product.status == ProductStatus.ACTIVE)
            .order_by(Product.title, Product.id)
            .limit(first + 1)
        )
    ).all()
    page = rows[:first]
    images, variants = await _related(connection, [row[0] for row in page])
    edges = []
    for pk, handle, title, price_min, price_max, category in page:
        price_range = None
        if price_min is not None and price_max is not None:
            price_range = {"min": _money(price_min, currency), "max": _money(price_max, currency)}
        edges.append(
            {
                "node": {
                    "id": _id("Product", pk),
                    "handle": handle,
                    "title": title,
                    "category": None if category is None else {"name": category},
                    "images": images.get(pk, []),
                    "priceRange": price_range,
                    "variants": variants.get(pk, []),
                }
            }
        )
    return {"products": {"edges": edges, "pageInfo": {"hasNextPage": len(rows) > first}}}


def create_app(settings: Settings | None = None) -> Starlette:
    """The floor app: ``POST /graphql`` answers the listing, whatever the query text says."""
    settings = settings or Settings()
    shops: dict[str, tuple[int, str]] = {}
    database: list[Database] = []

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        db = Database.connect(settings)
        database.append(db)
        async with db.engine.connect() as connection:
            for pk, handle, currency in await connection.execute(
                select(Shop.id, Shop.handle, Shop.currency)
            ):
                shops[handle] = (pk, currency)  # shops are cached in the app as well
        try:
            yield
        finally:
            await db.dispose()

    async def endpoint(request: Request) -> Response:
        body = orjson.loads(await request.body())
        first = int((body.get("variables") or {}).get("first", DEFAULT_FIRST))
        shop_id, currency = shops[request.headers.get(SHOP_HEADER, "demo")]
        async with database[0].engine.connect() as connection:
            data = await listing(connection, shop_id, currency, first)
        return Response(orjson.dumps({"data": data}), media_type="application/json")

    return Starlette(routes=[Route("/graphql", endpoint, methods=["POST"])], lifespan=lifespan)
