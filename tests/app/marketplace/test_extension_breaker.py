"""The extension circuit breaker: after N failures in a row the endpoint is not called at all
until the cooldown has passed on the (injected) clock; then one probe decides."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.config import Settings
from app.logistics.rates import RateTableQuoter
from app.trade.shipping import QuoteRequest
from marketplace.extension_breaker import Admission, CircuitBreakers
from marketplace.extension_shipping import ExtendedShippingQuoter
from marketplace.extensions import build_extensions
from tests.support.clock import MutableClock
from tests.support.extension_apps import (
    LOOPBACK,
    extension_app,
    failures_of,
    running_extensions,
)
from tests.support.factories import World
from tests.support.receiver import Receiver
from tests.support.trade import ship_to

pytestmark = pytest.mark.anyio

RATES = {"rates": [{"code": "express", "name": "Express", "amount": "9.90", "currency": "EUR"}]}


async def test_the_breaker_opens_after_n_failures_and_recovers_through_a_probe(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    tuned = settings.model_copy(
        update={"extension_breaker_failures": 3, "extension_breaker_cooldown_seconds": 30}
    )
    clock = MutableClock()
    request = QuoteRequest(world.shop.id, "EUR", "DE", "BE", "10117", 2500, 1000)
    receiver.mode = "fail"
    async with running_extensions(world, tuned, clock=clock) as extensions:
        quoter = ExtendedShippingQuoter(
            RateTableQuoter(world.services.db.reader), extensions.caller
        )

        async def codes() -> list[str]:
            return [option.code for option in await quoter.quote(request)]

        for _ in range(3):
            assert await codes() == ["standard"]
        assert len(receiver.requests) == 3
        for _ in range(4):  # open: not called at all
            assert await codes() == ["standard"]
        clock.advance(29)
        assert await codes() == ["standard"]
        assert len(receiver.requests) == 3

        clock.advance(2)  # the cooldown is over: one probe, which fails and reopens
        assert await codes() == ["standard"]
        assert await codes() == ["standard"]
        assert len(receiver.requests) == 4

        clock.advance(31)  # the next probe succeeds and closes the circuit
        receiver.mode = "succeed"
        receiver.answer = RATES
        assert await codes() == ["standard", "express"]
        assert await codes() == ["standard", "express"]
        assert len(receiver.requests) == 6

    kinds = [failure.kind for failure in await failures_of(world, made.app.id)]
    # circuit_open is recorded once per open period, not for every refused call.
    assert kinds == ["http_status"] * 3 + ["circuit_open", "http_status", "circuit_open"]


def test_half_open_lets_exactly_one_probe_through() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    clock = [now]
    breakers = CircuitBreakers(failures=2, cooldown=timedelta(seconds=10), clock=lambda: clock[0])
    assert breakers.admit("a") is Admission.CALL
    breakers.failed("a")
    assert breakers.admit("a") is Admission.CALL
    breakers.failed("a")
    assert breakers.is_open("a")
    assert breakers.admit("a") is Admission.REFUSED_FIRST
    assert breakers.admit("a") is Admission.REFUSED
    assert breakers.admit("b") is Admission.CALL  # per endpoint

    clock[0] = now + timedelta(seconds=10)
    assert breakers.admit("a") is Admission.PROBE
    assert breakers.admit("a") is Admission.REFUSED  # while the probe is out
    breakers.abandoned("a")  # the probe was cancelled: the next call probes
    assert breakers.admit("a") is Admission.PROBE
    breakers.succeeded("a")
    assert not breakers.is_open("a")
    assert breakers.admit("a") is Admission.CALL


def test_a_success_resets_the_count_of_failures_in_a_row() -> None:
    breakers = CircuitBreakers(
        failures=2, cooldown=timedelta(seconds=10), clock=lambda: datetime.now(UTC)
    )
    breakers.failed("a")
    breakers.succeeded("a")
    breakers.failed("a")
    assert not breakers.is_open("a")
    breakers.failed("a")
    assert breakers.is_open("a")


async def test_a_failure_that_cannot_be_recorded_is_logged_not_raised(
    world: World, settings: Settings, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    await ship_to(world)
    await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    receiver.mode = "fail"

    def broken_writer() -> Any:
        raise RuntimeError("the database is away")

    services = world.services
    broken = dataclasses.replace(services.db, writer=broken_writer)
    extensions = build_extensions(
        settings, broken, services.cipher, MutableClock(), outbound=LOOPBACK
    )
    try:
        quoter = ExtendedShippingQuoter(RateTableQuoter(services.db.reader), extensions.caller)
        request = QuoteRequest(world.shop.id, "EUR", "DE", "BE", "10117", 2500, 1000)
        with caplog.at_level(logging.ERROR, logger="agora.marketplace.extensions"):
            assert [o.code for o in await quoter.quote(request)] == ["standard"]
    finally:
        await extensions.close()
    assert "could not record an extension failure" in caplog.text
    assert len(receiver.requests) == 1
