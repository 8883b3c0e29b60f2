"""Quoting a cart from rate tables: which zone applies, which rates fit, what they cost."""

from __future__ import annotations

import pytest

from app.goods.variants import PriceInput
from app.logistics.models import RateBasis
from app.logistics.rates import RateTableQuoter
from app.logistics.zones import RateDraft, ZoneDraft, create_rate, create_zone
from app.trade.shipping import QuoteRequest, ShippingOption
from tests.support.factories import World, unique
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

KILO = 1000
WEIGHT, SUBTOTAL = RateBasis.WEIGHT, RateBasis.SUBTOTAL


async def _zone(world: World, *areas: str) -> int:
    async with world.services.db.writer() as session, session.begin():
        zone = await create_zone(session, world.shop.id, ZoneDraft(unique("Zone"), areas))
    return zone.id


async def _rate(
    world: World,
    zone: int,
    code: str,
    price: str,
    *,
    basis: RateBasis = WEIGHT,
    min_value: int = 0,
    max_value: int | None = None,
    free_over: str | None = None,
    active: bool = True,
) -> None:
    draft = RateDraft(
        code=code,
        name=code.title(),
        basis=basis,
        price=PriceInput(price, "EUR"),
        min_value=min_value,
        max_value=max_value,
        free_over=None if free_over is None else PriceInput(free_over, "EUR"),
        min_delivery_days=1,
        max_delivery_days=3,
        active=active,
    )
    async with world.services.db.writer() as session, session.begin():
        await create_rate(session, world.shop, zone, draft)


async def _options(
    world: World,
    country: str = "DE",
    region: str = "",
    *,
    subtotal: int = 2_000,
    weight: int = 500,
    currency: str = "EUR",
) -> list[ShippingOption]:
    quoter = RateTableQuoter(world.services.db.reader)
    request = QuoteRequest(
        shop_id=world.shop.id,
        currency=currency,
        country_code=country,
        region=region,
        postal_code="10115",
        subtotal=subtotal,
        weight_grams=weight,
    )
    return await quoter.quote(request)


async def _quote(world: World, *args: str, **kwargs: int) -> list[tuple[str, int]]:
    return [(o.code, o.amount) for o in await _options(world, *args, **kwargs)]


async def test_a_zone_listing_the_country_prices_the_cart(world: World) -> None:
    zone = await _zone(world, "DE", "AT")
    await _rate(world, zone, "standard", "4.90")

    (option,) = await _options(world, "AT")
    assert option == ShippingOption("standard", "Standard", 490, "EUR", 1, 3)
    assert await _quote(world, "de") == [("standard", 490)]
    assert await _quote(world, "FR") == []


async def test_a_zone_listing_the_region_beats_one_listing_the_country(world: World) -> None:
    country = await _zone(world, "US")
    await _rate(world, country, "ground", "9.00")
    region = await _zone(world, "US-CA")
    await _rate(world, region, "local", "5.00")

    assert await _quote(world, "US", "CA") == [("local", 500)]
    assert await _quote(world, "us", "us-ca") == [("local", 500)]
    assert await _quote(world, "US", "NY") == [("ground", 900)]
    assert await _quote(world, "US") == [("ground", 900)]


async def test_only_the_chosen_zone_applies_even_when_it_has_nothing_for_the_cart(
    world: World,
) -> None:
    country = await _zone(world, "US")
    await _rate(world, country, "ground", "9.00")
    region = await _zone(world, "US-CA")
    await _rate(world, region, "freight", "50.00", min_value=30 * KILO)

    assert await _quote(world, "US", "CA", weight=2 * KILO) == []
    assert await _quote(world, "US", "CA", weight=30 * KILO) == [("freight", 5000)]


async def test_equally_specific_zones_tie_to_the_oldest(world: World) -> None:
    oldest = await _zone(world, "DE")
    await _rate(world, oldest, "first", "7.00")
    newer = await _zone(world, "FR", "DE")
    await _rate(world, newer, "second", "1.00")

    assert await _quote(world, "DE") == [("first", 700)]
    assert await _quote(world, "FR") == [("second", 100)]


async def test_weight_brackets_include_the_lower_bound_and_exclude_the_upper(
    world: World,
) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "light", "3.00", max_value=KILO)
    await _rate(world, zone, "medium", "6.00", min_value=KILO, max_value=5 * KILO)
    await _rate(world, zone, "heavy", "12.00", min_value=5 * KILO)

    assert await _quote(world, weight=0) == [("light", 300)]
    assert await _quote(world, weight=KILO - 1) == [("light", 300)]
    assert await _quote(world, weight=KILO) == [("medium", 600)]
    assert await _quote(world, weight=5 * KILO - 1) == [("medium", 600)]
    assert await _quote(world, weight=5 * KILO) == [("heavy", 1200)]
    assert await _quote(world, weight=10**7) == [("heavy", 1200)]


async def test_subtotal_brackets_price_by_what_the_goods_are_worth(world: World) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "small", "5.00", basis=SUBTOTAL, max_value=5_000)
    await _rate(world, zone, "large", "2.00", basis=SUBTOTAL, min_value=5_000, max_value=10_000)

    assert await _quote(world, subtotal=4_999, weight=50 * KILO) == [("small", 500)]
    assert await _quote(world, subtotal=5_000) == [("large", 200)]
    assert await _quote(world, subtotal=10_000) == []


async def test_a_rate_is_free_from_exactly_its_threshold(world: World) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "standard", "4.90", free_over="50.00")

    assert await _quote(world, subtotal=4_999) == [("standard", 490)]
    assert await _quote(world, subtotal=5_000) == [("standard", 0)]
    assert await _quote(world, subtotal=80_000) == [("standard", 0)]


async def test_options_are_cheapest_first_then_by_code(world: World) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "express", "9.90")
    await _rate(world, zone, "standard", "4.90", free_over="20.00")
    await _rate(world, zone, "courier", "9.90")
    await _rate(world, zone, "economy", "3.90")

    assert await _quote(world, subtotal=1_000) == [
        ("economy", 390),
        ("standard", 490),
        ("courier", 990),
        ("express", 990),
    ]
    assert [code for code, _ in await _quote(world, subtotal=2_000)] == [
        "standard",
        "economy",
        "courier",
        "express",
    ]


async def test_inactive_rates_are_never_offered(world: World) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "standard", "4.90")
    await _rate(world, zone, "promo", "0.00", active=False)

    assert await _quote(world) == [("standard", 490)]


async def test_no_zone_for_the_address_means_no_options(world: World, other_world: World) -> None:
    assert await _quote(world, "DE") == []
    zone = await _zone(other_world, "DE")
    await _rate(other_world, zone, "theirs", "1.00")
    mine = await _zone(world, "AT")
    await _rate(world, mine, "standard", "4.90")

    assert await _quote(world, "DE") == []
    assert await _quote(world, "") == []
    assert await _quote(other_world, "DE") == [("theirs", 100)]


async def test_rates_in_another_currency_than_the_request_are_not_offered(world: World) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "standard", "4.90")

    assert await _options(world, currency="USD") == []


async def test_a_quote_is_one_statement_for_1_or_20_rates(
    world: World, other_world: World, statements: StatementCounter
) -> None:
    zone = await _zone(world, "DE")
    await _rate(world, zone, "only", "4.90")
    for index in range(5):
        many = await _zone(other_world, "DE", f"DE-{index}")
        for bracket in range(4):
            await _rate(
                other_world,
                many,
                f"r{bracket}",
                f"{index}.{bracket}0",
                min_value=bracket * KILO,
                max_value=(bracket + 1) * KILO if bracket < 3 else None,
            )

    counts = []
    for shop, region, expected in ((world, "", 1), (other_world, "DE-3", 1)):
        statements.reset()
        options = await _options(shop, "DE", region, weight=3 * KILO)
        counts.append(statements.count)
        assert len(options) == expected
    assert counts == [1, 1], statements.statements
    assert await _quote(other_world, "DE", "DE-3", weight=3 * KILO) == [("r3", 330)]
