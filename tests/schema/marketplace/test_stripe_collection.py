"""Collecting charges through Stripe invoices, on a real localstripe (with Stripe's one-off
invoicing, which localstripe lacks: see ``tests.support.localstripe_invoicing``).

The shop's payment method is set up at (local)Stripe by the test, as the merchant would at
Stripe: Agora's collector only finds the customer, invoices it and pays the invoice. Billing
days are in 2019, so no other test's charge is ever due in these runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
import stripe

from marketplace.app_models import Installation
from marketplace.billing_models import Charge, ChargeStatus
from marketplace.billing_run import run_billing
from marketplace.listing_models import PlanInterval, PlanKind
from marketplace.models import Tier
from marketplace.stripe_collection import StripeCollector, customer_email
from tests.support.billing import (
    Billing,
    SpyCollector,
    at,
    charges_of,
    make_installation,
    make_plan,
)
from tests.support.factories import World
from tests.support.localstripe import (
    DECLINING_CARD,
    SUCCEEDING_CARD,
    LocalStripe,
    free_port,
    stripe_session,
)
from tests.support.localstripe_invoicing import start_invoicing_localstripe
from tests.support.marketplace import make_app, make_partner, set_tier

pytestmark = pytest.mark.anyio


@pytest.fixture(scope="module")
async def localstripe() -> AsyncIterator[LocalStripe]:
    async with start_invoicing_localstripe() as ls:
        yield ls


@pytest.fixture(scope="module")
async def sdk(localstripe: LocalStripe) -> AsyncIterator[stripe.StripeClient]:
    async with stripe_session(localstripe.base_url) as client:
        yield client


async def _pays_with(sdk: stripe.StripeClient, shop_id: int, card: str = SUCCEEDING_CARD) -> str:
    """What the merchant does at Stripe: a customer with a default card. Returns its id."""
    method = await sdk.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {
                "number": card,
                "exp_month": 12,
                "exp_year": datetime.now(UTC).year + 3,
                "cvc": "123",
            },
        }
    )
    customer = await sdk.v1.customers.create_async(
        {
            "email": customer_email(shop_id),
            "payment_method": method.id,
            "invoice_settings": {"default_payment_method": method.id},
        }
    )
    return str(customer.id)


async def _monthly(world: World, amount: int, activated: date) -> tuple[int, Installation]:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(
        world, app, PlanKind.RECURRING, amount=amount, interval=PlanInterval.MONTH
    )
    return partner, await make_installation(world, app, plan, activated_at=at(activated))


async def _invoices(sdk: stripe.StripeClient, customer: str) -> list[dict[str, Any]]:
    listed = await sdk.v1.invoices.list_async({"customer": customer, "limit": 100})
    return [invoice.to_dict() for invoice in listed.data]


def _charged(invoice: dict[str, Any]) -> list[str]:
    return [line["metadata"].get("agora_charge") for line in invoice["lines"]["data"]]


async def test_a_charge_is_collected_through_a_paid_invoice_and_keeps_its_tier(
    world: World, sdk: stripe.StripeClient
) -> None:
    partner, installation = await _monthly(world, 2500, date(2019, 5, 1))
    customer = await _pays_with(sdk, world.shop.id)
    billing = Billing.on(world, at(date(2019, 5, 2)), StripeCollector(sdk))
    report = await run_billing(billing, date(2019, 5, 2))

    [charge] = await charges_of(world, installation)
    assert charge.id in report.collection.collected
    assert charge.status is ChargeStatus.COLLECTED
    assert (charge.earned_at, charge.tier, charge.share_bps) == (
        at(date(2019, 5, 2)),
        Tier.STANDARD,
        7000,
    )
    [invoice] = await _invoices(sdk, customer)
    assert invoice["id"] == charge.stripe_invoice_id
    assert (invoice["status"], invoice["amount_paid"], invoice["currency"]) == ("paid", 2500, "eur")
    assert _charged(invoice) == [str(charge.id)]

    # A later tier change rewrites nothing that was earned; running again invoices nothing.
    await set_tier(world, partner, Tier.ADVANCED)
    await run_billing(billing, date(2019, 5, 20))
    [unchanged] = await charges_of(world, installation)
    assert (unchanged.tier, unchanged.share_bps, unchanged.earned_at) == (
        Tier.STANDARD,
        7000,
        at(date(2019, 5, 2)),
    )
    assert len(await _invoices(sdk, customer)) == 1

    # The next month is earned at the new tier, on an invoice of its own.
    billing.clock.now = at(date(2019, 6, 1))
    await run_billing(billing, date(2019, 6, 1))
    _, june = await charges_of(world, installation)
    assert (june.status, june.tier, june.share_bps) == (ChargeStatus.COLLECTED, Tier.ADVANCED, 8000)
    assert len(await _invoices(sdk, customer)) == 2


async def test_a_declined_card_fails_the_charge(world: World, sdk: stripe.StripeClient) -> None:
    _, installation = await _monthly(world, 1200, date(2019, 7, 1))
    customer = await _pays_with(sdk, world.shop.id, DECLINING_CARD)
    billing = Billing.on(world, at(date(2019, 7, 2)), StripeCollector(sdk))
    report = await run_billing(billing, date(2019, 7, 2))
    [charge] = await charges_of(world, installation)
    assert charge.status is ChargeStatus.FAILED and charge.id in report.collection.failed
    assert (charge.earned_at, charge.tier, charge.share_bps) == (None, None, None)
    [invoice] = await _invoices(sdk, customer)
    assert invoice["status"] == "open" and charge.stripe_invoice_id == invoice["id"]


async def test_a_shop_without_a_customer_gets_one_and_fails_without_a_card(
    world: World, sdk: stripe.StripeClient
) -> None:
    _, installation = await _monthly(world, 800, date(2019, 8, 1))
    billing = Billing.on(world, at(date(2019, 8, 2)), StripeCollector(sdk))
    report = await run_billing(billing, date(2019, 8, 2))
    [charge] = await charges_of(world, installation)
    assert charge.status is ChargeStatus.FAILED
    assert "payment method" in report.collection.failed[charge.id]
    found = await sdk.v1.customers.list_async({"email": customer_email(world.shop.id)})
    assert [c.name for c in found.data] == [world.shop.name]


async def test_an_unreachable_stripe_leaves_the_charge_pending_for_the_next_run(
    world: World, sdk: stripe.StripeClient
) -> None:
    _, installation = await _monthly(world, 600, date(2019, 9, 1))
    customer = await _pays_with(sdk, world.shop.id)
    async with stripe_session(f"http://127.0.0.1:{free_port()}", timeout=1.0) as down:
        billing = Billing.on(world, at(date(2019, 9, 2)), StripeCollector(down))
        report = await run_billing(billing, date(2019, 9, 2))
    [charge] = await charges_of(world, installation)
    assert charge.status is ChargeStatus.PENDING and charge.id in report.collection.pending

    billing.collector = StripeCollector(sdk)
    billing.clock.now = at(date(2019, 9, 3))
    await run_billing(billing, date(2019, 9, 3))
    [collected] = await charges_of(world, installation)
    assert collected.status is ChargeStatus.COLLECTED
    assert collected.earned_at == at(date(2019, 9, 3))
    assert [_charged(i) for i in await _invoices(sdk, customer)] == [[str(charge.id)]]


async def _left_pending(world: World, installation: Installation, day: date) -> Charge:
    """A charge whose collection had no answer: opened, still PENDING."""
    spy = SpyCollector(unknown={world.shop.id})
    await run_billing(Billing.on(world, at(day), spy), day)
    [charge] = await charges_of(world, installation)
    assert charge.status is ChargeStatus.PENDING
    return charge


async def test_an_invoice_an_earlier_attempt_paid_is_found_not_made_again(
    world: World, sdk: stripe.StripeClient
) -> None:
    _, installation = await _monthly(world, 990, date(2019, 10, 1))
    customer = await _pays_with(sdk, world.shop.id)
    charge = await _left_pending(world, installation, date(2019, 10, 2))
    # What a crashed attempt did at Stripe before Agora recorded anything.
    await sdk.v1.invoice_items.create_async(
        {
            "customer": customer,
            "amount": 990,
            "currency": "eur",
            "metadata": {"agora_charge": str(charge.id)},
        }
    )
    earlier = await sdk.v1.invoices.create_async(
        {"customer": customer, "pending_invoice_items_behavior": "include"}
    )
    await sdk.v1.invoices.finalize_invoice_async(earlier.id)
    await sdk.v1.invoices.pay_async(earlier.id)

    billing = Billing.on(world, at(date(2019, 10, 3)), StripeCollector(sdk))
    await run_billing(billing, date(2019, 10, 3))
    [collected] = await charges_of(world, installation)
    assert (collected.status, collected.stripe_invoice_id) == (ChargeStatus.COLLECTED, earlier.id)
    assert [i["id"] for i in await _invoices(sdk, customer)] == [earlier.id]


async def test_a_pending_item_an_earlier_attempt_made_is_invoiced_once(
    world: World, sdk: stripe.StripeClient
) -> None:
    _, installation = await _monthly(world, 450, date(2019, 11, 1))
    customer = await _pays_with(sdk, world.shop.id)
    charge = await _left_pending(world, installation, date(2019, 11, 2))
    await sdk.v1.invoice_items.create_async(
        {
            "customer": customer,
            "amount": 450,
            "currency": "eur",
            "metadata": {"agora_charge": str(charge.id)},
        }
    )
    billing = Billing.on(world, at(date(2019, 11, 3)), StripeCollector(sdk))
    await run_billing(billing, date(2019, 11, 3))
    [collected] = await charges_of(world, installation)
    assert collected.status is ChargeStatus.COLLECTED
    [invoice] = await _invoices(sdk, customer)
    assert _charged(invoice) == [str(charge.id)] and invoice["amount_paid"] == 450
