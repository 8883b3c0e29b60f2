"""The ``shipping.rates`` extension over real HTTP: it adds and adjusts methods, signed with
the app's webhook secret; a slow, broken or nonsensical extension leaves the shopper with the
built-in methods and leaves a record for the partner; checkout goes through either way."""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.config import Settings
from app.logistics.rates import RateTableQuoter
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.order_models import Order, PaymentMethod
from app.trade.shipping import QuoteRequest, ShippingOption
from marketplace.extension_shipping import ExtendedShippingQuoter
from marketplace.extensions import Extensions
from tests.support.extension_apps import extension_app, failures_of, running_extensions
from tests.support.factories import World
from tests.support.receiver import Receiver
from tests.support.trade import ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

STANDARD = ShippingOption("standard", "Standard", 495, "EUR", 2, 4)


def _request(world: World, subtotal: int = 2500) -> QuoteRequest:
    return QuoteRequest(
        shop_id=world.shop.id,
        currency="EUR",
        country_code="DE",
        region="BE",
        postal_code="10117",
        subtotal=subtotal,
        weight_grams=1200,
    )


def _quoter(world: World, extensions: Extensions) -> ExtendedShippingQuoter:
    return ExtendedShippingQuoter(RateTableQuoter(world.services.db.reader), extensions.caller)


def _rate(code: str, amount: Any, **extra: Any) -> dict[str, Any]:
    return {"code": code, "name": code.title(), "amount": amount, "currency": "EUR", **extra}


async def test_an_extension_adds_and_adjusts_rates_and_its_call_is_signed(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.answer = {
        "rates": [
            _rate("express", "9.90", min_delivery_days=1, max_delivery_days=1),
            {"code": "standard", "name": "Standard (partner)", "amount": "3.00", "currency": "EUR"},
            _rate("pickup", "0"),
        ]
    }
    async with running_extensions(world, settings) as extensions:
        options = await _quoter(world, extensions).quote(_request(world))

    assert options == [
        ShippingOption("pickup", "Pickup", 0, "EUR"),
        # Adjusted: the partner's name and price, the built-in's delivery days.
        ShippingOption("standard", "Standard (partner)", 300, "EUR", 2, 4),
        ShippingOption("express", "Express", 990, "EUR", 1, 1),
    ]
    [call] = receiver.requests
    assert call.path == "/rates"
    assert call.signed_by(made.webhook_secret)
    assert not call.signed_by("whsec_someone-else")
    assert len(call.headers["x-agora-nonce"]) >= 32
    assert call.headers["x-agora-extension-point"] == "shipping.rates"
    assert call.json() == {
        "point": "shipping.rates",
        "shop_id": world.shop.id,
        "currency": "EUR",
        "destination": {"country_code": "DE", "region": "BE", "postal_code": "10117"},
        "subtotal": "25.00",
        "weight_grams": 1200,
        "rates": [
            {
                "code": "standard",
                "name": "Standard",
                "amount": "4.95",
                "currency": "EUR",
                "min_delivery_days": 2,
                "max_delivery_days": 4,
                "carrier_code": None,
            }
        ],
    }
    assert await failures_of(world, made.app.id) == []


async def test_a_shop_without_an_extension_gets_the_built_in_rates_and_no_call(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    async with running_extensions(world, settings) as extensions:
        assert await _quoter(world, extensions).quote(_request(world)) == [STANDARD]
    assert receiver.requests == []


async def test_a_hanging_extension_costs_the_timeout_and_is_recorded(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.mode = "hang"
    async with running_extensions(world, settings, timeout_seconds=0.3) as extensions:
        assert await _quoter(world, extensions).quote(_request(world)) == [STANDARD]
    [failure] = await failures_of(world, made.app.id)
    assert (failure.kind, failure.shop_id, failure.point) == (
        "timeout",
        world.shop.id,
        "shipping.rates",
    )
    assert receiver.in_flight == 1  # it was reached, and is still thinking


@pytest.mark.parametrize(
    ("mode", "answer", "kind", "detail"),
    [
        ("garbage", None, "malformed", "not JSON"),
        ("fail", None, "http_status", "HTTP 500"),
        ("succeed", {"rates": [_rate("cheap", "-1.00")]}, "malformed", "negative"),
        ("succeed", {"rates": [_rate("cheap", 1.5)]}, "malformed", "rates.0.amount"),
        ("succeed", {"rates": [_rate("cheap", "1.999")]}, "malformed", "at most 2 decimals"),
        ("succeed", {"rates": [_rate("cheap", "1e3")]}, "malformed", "not a decimal amount"),
        ("succeed", {"rates": [{**_rate("usd", "1.00"), "currency": "USD"}]}, "malformed", "USD"),
        ("succeed", {"rates": [_rate(f"r{i}", "1.00") for i in range(21)]}, "malformed", "20"),
        ("succeed", {"rates": [_rate("a b", "1.00")]}, "malformed", "rates.0.code"),
        ("succeed", {"rates": [_rate("x", "1.00"), _rate("x", "2.00")]}, "malformed", "twice"),
        (
            "succeed",
            {"rates": [_rate("slow", "1.00", min_delivery_days=5, max_delivery_days=2)]},
            "malformed",
            "min_delivery_days",
        ),
        (
            "succeed",
            {"rates": [_rate("late", "1.00", max_delivery_days=400)]},
            "malformed",
            "max_delivery_days",
        ),
        ("succeed", {"rates": [{**_rate("x", "1.00"), "name": ""}]}, "malformed", "name"),
        ("succeed", {"rates": [], "debug": True}, "malformed", "debug"),
        ("succeed", [1, 2], "malformed", "answer"),
        ("succeed", {"rates": [], "pad": "x" * 70_000}, "too_large", "65536 bytes"),
    ],
)
async def test_a_malformed_answer_is_ignored_and_recorded(
    world: World,
    settings: Settings,
    receiver: Receiver,
    mode: Any,
    answer: Any,
    kind: str,
    detail: str,
) -> None:
    await ship_to(world)
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.mode = mode
    receiver.answer = answer
    async with running_extensions(world, settings) as extensions:
        assert await _quoter(world, extensions).quote(_request(world)) == [STANDARD]
    [failure] = await failures_of(world, made.app.id)
    assert failure.kind == kind
    assert detail in failure.detail, failure.detail


async def test_one_bad_rate_spoils_the_whole_answer(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.answer = {"rates": [_rate("standard", "0.50"), _rate("cheap", "-0.01")]}
    async with running_extensions(world, settings) as extensions:
        assert await _quoter(world, extensions).quote(_request(world)) == [STANDARD]
    [failure] = await failures_of(world, made.app.id)
    assert failure.detail == "rates.1.amount: -0.01 is negative"


async def _checkout(world: World, extensions: Extensions) -> Order:
    """A bank-transfer checkout of a ready cart (standard method chosen), with the extended
    quoter in trade's services, as app/main.py wires it."""
    trade = dataclasses.replace(world.services.trade, quoter=_quoter(world, extensions))
    variant = await stocked_variant(world, "20.00")
    cart = await ready_cart(world, variant)
    placed = await complete_checkout(
        trade,
        CheckoutRequest(world.shop.id, cart, None, PaymentMethod.BANK_TRANSFER, uuid.uuid4().hex),
    )
    async with world.services.db.reader() as session:
        order = await session.scalar(select(Order).where(Order.id == placed.order_id))
    assert order is not None
    return order


async def test_checkout_completes_with_built_in_rates_when_the_extension_hangs(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.mode = "hang"
    async with running_extensions(world, settings, timeout_seconds=0.3) as extensions:
        order = await _checkout(world, extensions)
    assert (order.shipping_method_code, order.shipping_amount, order.total) == (
        "standard",
        495,
        2495,
    )
    assert [f.kind for f in await failures_of(world, made.app.id)] == ["timeout"]


async def test_checkout_charges_the_extensions_adjusted_rate(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.answer = {"rates": [_rate("standard", "1.50")]}
    async with running_extensions(world, settings) as extensions:
        order = await _checkout(world, extensions)
    assert (order.shipping_method_code, order.shipping_amount, order.total) == (
        "standard",
        150,
        2150,
    )
    assert len(receiver.requests) == 1  # quoted once, before the transaction
