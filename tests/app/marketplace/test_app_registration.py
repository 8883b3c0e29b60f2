"""Registering apps: the tier decides the scopes and how many apps; each gets a sandbox shop."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from app.goods.models import Product
from app.identity.models import Shop
from marketplace.app_models import App
from marketplace.apps import AppDraft, create_app
from marketplace.models import Tier
from tests.support.factories import World
from tests.support.marketplace import REDIRECT_URI, make_app, make_partner

pytestmark = pytest.mark.anyio


async def _create(world: World, partner: int, scopes: list[str]) -> None:
    services = world.services.marketplace
    async with world.services.db.writer() as session, session.begin():
        await create_app(
            session,
            services.field_cipher,
            AppDraft(partner, "Extra", [REDIRECT_URI], scopes),
            services.seed_sandbox,
        )


async def test_an_app_gets_a_sandbox_shop_with_demo_data(world: World) -> None:
    partner, _ = await make_partner(world)
    app, credentials = await make_app(world, partner)
    assert credentials.client_id == app.client_id and credentials.client_secret
    async with world.services.db.reader() as session:
        sandbox = await session.get(Shop, app.sandbox_shop_id)
        products = await session.scalar(
            select(func.count()).select_from(Product).where(Product.shop_id == app.sandbox_shop_id)
        )
    assert sandbox is not None and sandbox.sandbox is True
    assert products == 12


async def test_a_core_scope_needs_the_strategic_tier(world: World) -> None:
    partner, _ = await make_partner(world)
    with pytest.raises(DomainError) as refused:
        await _create(world, partner, ["goods:read", "extensions:shipping_rates"])
    assert [(p.code, p.field) for p in refused.value.problems] == [
        ("SCOPE_NOT_ALLOWED", ("scopes", "1"))
    ]
    strategic, _ = await make_partner(world, tier=Tier.STRATEGIC)
    await _create(world, strategic, ["extensions:shipping_rates"])


async def test_the_tier_caps_the_number_of_apps(world: World) -> None:
    partner, _ = await make_partner(world)
    for _ in range(3):
        await make_app(world, partner)
    with pytest.raises(DomainError) as refused:
        await _create(world, partner, ["goods:read"])
    assert [p.code for p in refused.value.problems] == ["MAX_APPS_REACHED"]
    async with world.services.db.reader() as session:
        count = await session.scalar(
            select(func.count()).select_from(App).where(App.partner_id == partner)
        )
    assert count == 3
