"""Which extension Agora calls: only a strategic partner's app may declare one; an installation
is called at the URL of the version its canary bucket is assigned; a downgraded partner, an
ungranted scope or an uninstalled app is not called; of two, the oldest installation serves;
and the lookup is cached so a shop's quote costs no extra statement."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.config import Settings
from app.logistics.rates import RateTableQuoter
from app.trade.shipping import QuoteRequest
from marketplace.app_models import AppVersion
from marketplace.extension_shipping import ExtendedShippingQuoter
from marketplace.extensions import Extensions
from marketplace.installs import uninstall
from marketplace.models import Tier
from marketplace.versions import set_rollout
from tests.support.extension_apps import (
    add_version,
    extension_app,
    install,
    running_extensions,
)
from tests.support.factories import World, gid, make_world
from tests.support.graphql import GraphQLClient
from tests.support.marketplace import make_app, make_partner, member, set_tier
from tests.support.receiver import Receiver
from tests.support.sql import StatementCounter
from tests.support.trade import ship_to

pytestmark = pytest.mark.anyio

VERSION = """mutation($a: ID!, $m: ManifestInput!) {
  appVersionCreate(appId: $a, version: "1.0.0", manifest: $m) {
    version { id } errors { field code } } }"""
RATES = {"rates": [{"code": "express", "name": "Express", "amount": "9.90", "currency": "EUR"}]}


def _request(world: World) -> QuoteRequest:
    return QuoteRequest(world.shop.id, "EUR", "DE", "BE", "10117", 2500, 1000)


async def _codes(world: World, extensions: Extensions) -> list[str]:
    quoter = ExtendedShippingQuoter(RateTableQuoter(world.services.db.reader), extensions.caller)
    return [option.code for option in await quoter.quote(_request(world))]


@pytest.mark.parametrize("tier", [Tier.STANDARD, Tier.ADVANCED])
async def test_only_a_strategic_app_may_declare_an_extension(
    world: World, gql: GraphQLClient, receiver: Receiver, tier: Tier
) -> None:
    partner, _ = await make_partner(world, tier=tier)
    app, _ = await make_app(world, partner)
    _, developer = await member(world, partner, "developer")
    manifest = {
        "appUrl": "https://app.example",
        "extensions": [{"point": "shipping.rates", "url": receiver.endpoint("/rates")}],
    }
    refused = (await gql(VERSION, {"a": gid("App", app.id), "m": manifest}, token=developer)).ok()
    assert refused["appVersionCreate"] == {
        "version": None,
        "errors": [{"field": ["manifest", "shipping.rates"], "code": "EXTENSION_NOT_ALLOWED"}],
    }

    await set_tier(world, partner, Tier.STRATEGIC)
    accepted = (await gql(VERSION, {"a": gid("App", app.id), "m": manifest}, token=developer)).ok()
    assert accepted["appVersionCreate"]["errors"] == []


async def test_an_installation_calls_the_extension_of_its_canary_version(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/v1/rates")})
    # A second shop whose installation falls in another bucket.
    other = await make_world(world.app)
    await ship_to(other)
    _, other_bucket = await install(other, made.app)
    while other_bucket == made.bucket:
        other = await make_world(world.app)
        await ship_to(other)
        _, other_bucket = await install(other, made.app)
    # v2 serves the lower bucket only: the canary.
    low, high = sorted([(made.bucket, world), (other_bucket, other)], key=lambda pair: pair[0])
    await add_version(
        world, made.app.id, "2.0.0", {"shipping.rates": receiver.endpoint("/v2/rates")}
    )
    async with running_extensions(world, settings) as extensions:
        await _codes(high[1], extensions)  # v2's rollout is still 0 %
        await _rollout(world, made.app.id, high[0])
        for shop in (low[1], high[1]):
            assert await _codes(shop, extensions) == ["standard", "express"]
    assert [r.path for r in receiver.requests] == ["/v1/rates", "/v2/rates", "/v1/rates"]
    assert [r.json()["shop_id"] for r in receiver.requests[1:]] == [low[1].shop.id, high[1].shop.id]


async def _rollout(world: World, app_id: int, percent: int) -> None:
    """Set the app's newest version's rollout."""
    async with world.services.db.writer() as session, session.begin():
        newest = await session.scalar(
            select(AppVersion).where(AppVersion.app_id == app_id).order_by(AppVersion.id.desc())
        )
        assert newest is not None
        await set_rollout(session, newest.id, percent)


async def test_a_downgraded_partner_is_no_longer_called(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    async with running_extensions(world, settings, lookup_ttl_seconds=60) as extensions:
        assert await _codes(world, extensions) == ["standard", "express"]
        await set_tier(world, made.partner_id, Tier.ADVANCED)
        await extensions.invalidate()  # app/main.py ties this to the tier-change signal
        assert await _codes(world, extensions) == ["standard"]
        await set_tier(world, made.partner_id, Tier.STRATEGIC)
        await extensions.invalidate()
        assert await _codes(world, extensions) == ["standard", "express"]
    assert len(receiver.requests) == 2


async def test_an_ungranted_scope_or_an_uninstalled_app_is_not_called(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    await extension_app(
        world, {"shipping.rates": receiver.endpoint("/ungranted")}, granted=("goods:read",)
    )
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/granted")})
    async with running_extensions(world, settings) as extensions:
        assert await _codes(world, extensions) == ["standard", "express"]
        async with world.services.db.writer() as session, session.begin():
            await uninstall(session, world.shop.id, made.installation_id, datetime.now(UTC))
        assert await _codes(world, extensions) == ["standard"]
    assert [r.path for r in receiver.requests] == ["/granted"]


async def test_the_oldest_installation_serves_a_point(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    await extension_app(world, {"shipping.rates": receiver.endpoint("/first")})
    await extension_app(
        world,
        {
            "shipping.rates": receiver.endpoint("/second"),
            "goods.recommendations": receiver.endpoint("/second/recommend"),
        },
    )
    async with running_extensions(world, settings) as extensions:
        assert await _codes(world, extensions) == ["standard", "express"]
        recommender = await extensions.caller.endpoint(world.shop.id, "goods.recommendations")
    assert [r.path for r in receiver.requests] == ["/first"]
    assert recommender is not None
    assert recommender.url.endswith("/second/recommend")


async def test_the_lookup_is_cached_per_shop(
    world: World, settings: Settings, receiver: Receiver, statements: StatementCounter
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    async with running_extensions(world, settings, lookup_ttl_seconds=60) as extensions:
        caller = extensions.caller
        statements.reset()
        assert await caller.endpoint(world.shop.id, "shipping.rates") is not None
        assert len(statements.statements) == 1, statements.statements
        assert await caller.endpoint(world.shop.id, "goods.recommendations") is None
        assert await caller.endpoint(world.shop.id, "shipping.rates") is not None
        assert len(statements.statements) == 1
        await caller.invalidate()
        assert await caller.endpoint(world.shop.id, "shipping.rates") is not None
        assert len(statements.statements) == 2
