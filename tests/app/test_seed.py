"""`agora seed` builds the demo world once, and the app serves it without a shop header."""

from __future__ import annotations

import anyio.to_thread
import httpx
import pytest
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.goods.models import Category, InventoryLevel, Product, Variant, Warehouse
from app.logistics.models import ShippingZone
from app.main import create_app
from app.migrate import sync_policy, upgrade
from app.security.rbac import ROLES, CasbinRule
from app.seed import seed_demo

pytestmark = pytest.mark.anyio


async def _counts(settings: Settings, url: str) -> dict[str, int]:
    db = Database.connect(settings, url)
    try:
        async with db.reader() as session:

            def count(model: type) -> object:
                return session.scalar(select(func.count()).select_from(model))

            per_product = (
                select(func.count()).select_from(Variant).group_by(Variant.product_id).subquery()
            )
            return {
                "products": await count(Product),
                "categories": await count(Category),
                "warehouses": await count(Warehouse),
                "shipping_zones": await count(ShippingZone),
                "stocked_levels": await session.scalar(
                    select(func.count())
                    .select_from(InventoryLevel)
                    .where(InventoryLevel.on_hand > 0)
                ),
                "min_variants": await session.scalar(select(func.min(per_product.c[0]))),
                "max_variants": await session.scalar(select(func.max(per_product.c[0]))),
                "roles": await session.scalar(
                    select(func.count(func.distinct(CasbinRule.v1))).where(
                        CasbinRule.ptype == "g", CasbinRule.v0.like("user:%")
                    )
                ),
            }
    finally:
        await db.dispose()


async def test_seed_is_complete_and_idempotent(settings: Settings, empty_database: str) -> None:
    local = settings.model_copy(update={"database_url": empty_database})
    await anyio.to_thread.run_sync(upgrade, empty_database)
    await sync_policy(local, empty_database)

    report = await seed_demo(local)
    first = await _counts(local, empty_database)
    again = await seed_demo(local)
    assert await _counts(local, empty_database) == first
    assert await seed_demo(local, only_if_empty=True) is None

    assert first["products"] >= 500 and first["categories"] >= 20
    assert first["warehouses"] == 2 and first["stocked_levels"] > 0
    assert first["shipping_zones"] == 4
    assert (first["min_variants"], first["max_variants"]) == (1, 5)
    assert first["roles"] == len(ROLES)
    assert report is not None and again is not None
    assert report.credentials == again.credentials, "passwords are printed the same on every run"

    app = create_app(local)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t") as http,
    ):
        listing = await http.post(
            "/graphql",
            json={"query": "{ shop { handle } products(first: 3) { nodes { title } } }"},
        )
        assert listing.status_code == 200
        body = listing.json()["data"]
        assert body["shop"] == {"handle": "demo"}
        assert len(body["products"]["nodes"]) == 3

        # The demo store ships: a cart to Berlin is offered the home zone's methods.
        variant = (
            await http.post(
                "/graphql",
                json={"query": "{ products(first: 1) { nodes { variants { id } } } }"},
            )
        ).json()["data"]["products"]["nodes"][0]["variants"][0]["id"]
        cart = (
            await http.post(
                "/graphql",
                json={
                    "query": "mutation($v: ID!) { cartCreate(lines: [{variantId: $v}]) { cart { id } } }",
                    "variables": {"v": variant},
                },
            )
        ).json()["data"]["cartCreate"]["cart"]["id"]
        addressed = await http.post(
            "/graphql",
            json={
                "query": 'mutation($c: ID!) { cartShippingAddressUpdate(cartId: $c, address: {name: "A", street1: "S 1", city: "Berlin", countryCode: "DE"}) { cart { availableShippingMethods { code } } } }',
                "variables": {"c": cart},
            },
        )
        methods = addressed.json()["data"]["cartShippingAddressUpdate"]["cart"]
        assert [m["code"] for m in methods["availableShippingMethods"]] == ["standard", "express"]

        email, password, _ = next(c for c in report.credentials if c[0].startswith("business@"))
        login = await http.post(
            "/graphql",
            json={
                "query": "mutation($e: String!, $p: String!) { tokenCreate(email: $e, password: $p) { accessToken } }",
                "variables": {"e": email, "p": password},
            },
        )
        token = login.json()["data"]["tokenCreate"]["accessToken"]
        created = await http.post(
            "/graphql",
            json={
                "query": 'mutation { productCreate(input: {title: "Seeded"}) { product { handle } errors { code } } }'
            },
            headers={"authorization": f"Bearer {token}"},
        )
        assert created.json()["data"]["productCreate"] == {
            "product": {"handle": "seeded"},
            "errors": [],
        }
