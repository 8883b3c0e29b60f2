"""Extension URLs in prod: a host that resolves to a private, loopback or link-local address is
refused at call time, before any request goes out (so DNS rebinding gains nothing), and a
version that names such an address, or plain http, is refused when it is created."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.config import Settings
from app.errors import DomainError
from app.logistics.rates import RateTableQuoter
from app.security.outbound import OutboundPolicy
from app.trade.shipping import QuoteRequest
from marketplace.errors import MarketplaceErrorCode
from marketplace.extension_shipping import ExtendedShippingQuoter
from marketplace.extensions import Extensions
from marketplace.models import Tier
from marketplace.versions import create_version
from tests.support.extension_apps import extension_app, failures_of, running_extensions
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner
from tests.support.receiver import Receiver
from tests.support.trade import ship_to

pytestmark = pytest.mark.anyio

RATES = {"rates": [{"code": "express", "name": "Express", "amount": "9.90", "currency": "EUR"}]}
PROD = OutboundPolicy(allow_loopback=False)


async def _codes(world: World, extensions: Extensions) -> list[str]:
    quoter = ExtendedShippingQuoter(RateTableQuoter(world.services.db.reader), extensions.caller)
    request = QuoteRequest(world.shop.id, "EUR", "DE", "BE", "10117", 2500, 1000)
    return [option.code for option in await quoter.quote(request)]


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.1"], ["127.0.0.1"], ["169.254.169.254"], ["93.184.215.14", "10.1.2.3"]],
)
async def test_a_host_resolving_inside_is_refused_without_a_request(
    world: World, settings: Settings, receiver: Receiver, addresses: list[str]
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    port = urlsplit(receiver.url).port
    made = await extension_app(
        world, {"shipping.rates": f"https://rates.partner.example:{port}/rates"}
    )
    asked: list[str] = []

    async def resolver(host: str, _port: int) -> list[str]:
        asked.append(host)
        return addresses

    prod = OutboundPolicy(allow_loopback=False, resolver=resolver)
    async with running_extensions(world, settings, outbound=prod) as extensions:
        assert await _codes(world, extensions) == ["standard"]
    assert asked == ["rates.partner.example"]  # checked on the address it resolves to now
    assert receiver.requests == []
    [failure] = await failures_of(world, made.app.id)
    assert failure.kind == "refused_url"
    assert "not a public address" in failure.detail


async def test_a_loopback_url_saved_in_dev_is_not_called_in_prod(
    world: World, settings: Settings, receiver: Receiver
) -> None:
    await ship_to(world)
    receiver.answer = RATES
    made = await extension_app(world, {"shipping.rates": receiver.endpoint("/rates")})
    async with running_extensions(world, settings, outbound=PROD) as extensions:
        assert await _codes(world, extensions) == ["standard"]
    assert receiver.requests == []
    assert [f.kind for f in await failures_of(world, made.app.id)] == ["refused_url"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/rates",
        "https://127.0.0.1/rates",
        "https://10.0.0.1/rates",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/rates",
        "https://localhost/rates",
        "http://rates.partner.example/rates",
    ],
)
async def test_a_version_pointing_inside_is_refused_in_prod(world: World, url: str) -> None:
    partner, _ = await make_partner(world, tier=Tier.STRATEGIC)
    app, _ = await make_app(world, partner, scopes=("goods:read",))
    manifest = {"app_url": "https://app.example", "extensions": {"shipping.rates": url}}
    async with world.services.db.writer() as session, session.begin():
        with pytest.raises(DomainError) as refused:
            await create_version(session, app.id, "1.0.0", "", manifest, outbound=PROD)
    assert [(p.code, p.field) for p in refused.value.problems] == [
        (MarketplaceErrorCode.URL_REFUSED, ("manifest", "shipping.rates"))
    ]
