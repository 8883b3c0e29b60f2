"""The billing run: recurring charges after the trial, once per period; usage charges per closed
period; one-time charges collected; sandbox charges marked test; tier and share frozen when
earned. Every run is for a day the test names, years back, so no other test's installation is
ever due on it."""

from __future__ import annotations

from datetime import date

import pytest

from marketplace.app_models import App, InstallationStatus
from marketplace.billing_models import ChargeKind, ChargeStatus
from marketplace.billing_run import run_billing
from marketplace.charges import create_activation_charges
from marketplace.listing_models import PlanInterval, PlanKind
from marketplace.models import Tier
from marketplace.usage import record_usage_once
from tests.support.billing import (
    Billing,
    SpyCollector,
    at,
    charges_of,
    make_installation,
    make_plan,
)
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner, set_tier

pytestmark = pytest.mark.anyio


async def _app(world: World, tier: Tier = Tier.STANDARD) -> App:
    partner, _ = await make_partner(world, tier=tier)
    app, _ = await make_app(world, partner)
    return app


async def test_no_recurring_charge_before_the_trial_ends_and_exactly_one_after(
    world: World,
) -> None:
    app = await _app(world)
    plan = await make_plan(
        world, app, PlanKind.RECURRING, amount=1500, interval=PlanInterval.MONTH, trial_days=14
    )
    # The trial runs until 2021-01-24 12:00 UTC.
    installation = await make_installation(world, app, plan, activated_at=at(date(2021, 1, 10)))
    billing = Billing.on(world, at(date(2021, 1, 23), 23))

    await run_billing(billing, date(2021, 1, 23))
    assert await charges_of(world, installation) == []

    billing.clock.now = at(date(2021, 1, 24), 13)
    first = await run_billing(billing, date(2021, 1, 24))
    [charge] = await charges_of(world, installation)
    assert charge.id in first.recurring and charge.id in first.collection.collected
    assert (charge.kind, charge.period_start, charge.period_end) == (
        ChargeKind.RECURRING,
        date(2021, 1, 1),
        date(2021, 2, 1),
    )
    assert (charge.amount, charge.currency, charge.partner_id, charge.shop_id) == (
        1500,
        "EUR",
        app.partner_id,
        world.shop.id,
    )
    assert charge.status is ChargeStatus.COLLECTED and charge.test is False
    assert (charge.earned_at, charge.tier, charge.share_bps) == (
        billing.clock.now,
        Tier.STANDARD,
        7000,
    )
    assert charge.stripe_invoice_id == f"in_{charge.id}"

    # Later days of the same month, and the same day again, open nothing more.
    for day in (date(2021, 1, 24), date(2021, 1, 31)):
        again = await run_billing(billing, day)
        assert charge.id not in again.recurring
    assert [c.id for c in await charges_of(world, installation)] == [charge.id]

    await run_billing(billing, date(2021, 2, 1))
    periods = [c.period_start for c in await charges_of(world, installation)]
    assert periods == [date(2021, 1, 1), date(2021, 2, 1)]


async def test_a_yearly_plan_is_charged_once_per_calendar_year(world: World) -> None:
    app = await _app(world)
    plan = await make_plan(
        world, app, PlanKind.RECURRING, amount=12_000, interval=PlanInterval.YEAR
    )
    installation = await make_installation(world, app, plan, activated_at=at(date(2021, 6, 15)))
    billing = Billing.on(world, at(date(2021, 6, 15), 18))
    for day in (date(2021, 6, 14), date(2021, 6, 15), date(2021, 9, 1), date(2021, 12, 31)):
        await run_billing(billing, day)
    [charge] = await charges_of(world, installation)
    assert (charge.period_start, charge.period_end, charge.amount) == (
        date(2021, 1, 1),
        date(2022, 1, 1),
        12_000,
    )
    await run_billing(billing, date(2022, 1, 1))
    assert [c.period_start for c in await charges_of(world, installation)] == [
        date(2021, 1, 1),
        date(2022, 1, 1),
    ]


async def test_inactive_installations_and_free_plans_are_not_charged(world: World) -> None:
    app = await _app(world)
    monthly = await make_plan(
        world, app, PlanKind.RECURRING, amount=900, interval=PlanInterval.MONTH
    )
    free = await make_plan(world, app, PlanKind.FREE)
    gone = await make_installation(
        world,
        app,
        monthly,
        activated_at=at(date(2021, 2, 1)),
        status=InstallationStatus.UNINSTALLED,
    )
    gratis = await make_installation(world, app, free, activated_at=at(date(2021, 2, 1)))
    await run_billing(Billing.on(world, at(date(2021, 3, 1))), date(2021, 3, 1))
    assert await charges_of(world, gone) == []
    assert await charges_of(world, gratis) == []


async def test_usage_is_charged_once_per_closed_period(world: World) -> None:
    app = await _app(world)
    plan = await make_plan(world, app, PlanKind.USAGE, amount=25, usage_cap=100_000)
    installation = await make_installation(world, app, plan, activated_at=at(date(2021, 3, 1)))
    billing = Billing.on(world, at(date(2021, 3, 5)))

    async def use(day: date, quantity: int) -> None:
        billing.clock.now = at(day)
        await record_usage_once(
            billing, installation.id, quantity, "calls", f"{day}-{quantity}", app.client_id
        )

    await use(date(2021, 3, 5), 10)
    await use(date(2021, 3, 31), 4)
    await use(date(2021, 4, 2), 2)

    billing.clock.now = at(date(2021, 4, 15))
    mid_april = await run_billing(billing, date(2021, 4, 15))
    [march] = await charges_of(world, installation, ChargeKind.USAGE)
    assert march.id in mid_april.usage
    assert (march.period_start, march.period_end, march.amount, march.currency) == (
        date(2021, 3, 1),
        date(2021, 4, 1),
        14 * 25,
        "EUR",
    )
    assert march.status is ChargeStatus.COLLECTED

    # April closes on May 1st; running again opens nothing twice.
    for day in (date(2021, 4, 30), date(2021, 5, 1), date(2021, 5, 1), date(2021, 6, 1)):
        await run_billing(billing, day)
    usage = await charges_of(world, installation, ChargeKind.USAGE)
    assert [(c.period_start, c.amount) for c in usage] == [
        (date(2021, 3, 1), 350),
        (date(2021, 4, 1), 50),
    ]


async def test_a_period_of_free_usage_opens_no_charge(world: World) -> None:
    app = await _app(world)
    plan = await make_plan(world, app, PlanKind.USAGE, amount=0)
    installation = await make_installation(world, app, plan, activated_at=at(date(2021, 3, 1)))
    billing = Billing.on(world, at(date(2021, 3, 2)))
    await record_usage_once(billing, installation.id, 5, "", "free-1", app.client_id)
    await run_billing(billing, date(2021, 4, 1))
    assert await charges_of(world, installation) == []


async def test_sandbox_charges_are_test_charges_never_sent_to_the_collector(
    world: World,
) -> None:
    app = await _app(world)
    plan = await make_plan(world, app, PlanKind.RECURRING, amount=700, interval=PlanInterval.MONTH)
    assert app.sandbox_shop_id is not None
    sandbox = await make_installation(
        world, app, plan, activated_at=at(date(2021, 5, 3)), shop_id=app.sandbox_shop_id
    )
    real = await make_installation(world, app, plan, activated_at=at(date(2021, 5, 3)))
    spy = SpyCollector()
    report = await run_billing(Billing.on(world, at(date(2021, 5, 4)), spy), date(2021, 5, 4))

    [test_charge] = await charges_of(world, sandbox)
    [real_charge] = await charges_of(world, real)
    assert test_charge.test is True and real_charge.test is False
    assert test_charge.id not in spy.asked and real_charge.id in spy.asked
    # Shown as a sandbox partner would see a real one, but no money moved (no invoice).
    assert test_charge.status is ChargeStatus.COLLECTED
    assert test_charge.stripe_invoice_id is None
    assert (test_charge.tier, test_charge.share_bps) == (Tier.STANDARD, 7000)
    assert test_charge.id in report.collection.test
    assert test_charge.id not in report.collection.collected


async def test_a_one_time_charge_opens_at_activation_and_the_run_collects_it(
    world: World,
) -> None:
    app = await _app(world)
    plan = await make_plan(world, app, PlanKind.ONE_TIME, amount=4900)
    installation = await make_installation(world, app, plan, activated_at=at(date(2021, 7, 7)))
    async with world.services.db.writer() as session, session.begin():
        opened = await create_activation_charges(session, installation, plan, at(date(2021, 7, 7)))
        repeated = await create_activation_charges(
            session, installation, plan, at(date(2021, 7, 8))
        )
    assert len(opened) == 1 and repeated == []
    [charge] = await charges_of(world, installation)
    assert (charge.kind, charge.status, charge.amount) == (
        ChargeKind.ONE_TIME,
        ChargeStatus.PENDING,
        4900,
    )
    assert (charge.period_start, charge.period_end) == (date(2021, 7, 7), date(2021, 7, 8))

    report = await run_billing(Billing.on(world, at(date(2021, 7, 8))), date(2021, 7, 8))
    assert charge.id in report.collection.collected
    [collected] = await charges_of(world, installation)
    assert collected.status is ChargeStatus.COLLECTED


async def test_tier_and_share_are_those_at_earning_time(world: World) -> None:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(world, app, PlanKind.RECURRING, amount=1000, interval=PlanInterval.MONTH)
    installation = await make_installation(world, app, plan, activated_at=at(date(2021, 8, 1)))
    billing = Billing.on(world, at(date(2021, 8, 2)))
    await run_billing(billing, date(2021, 8, 2))
    await set_tier(world, partner, Tier.ADVANCED)
    await run_billing(billing, date(2021, 9, 1))
    august, september = await charges_of(world, installation)
    assert (august.tier, august.share_bps) == (Tier.STANDARD, 7000)
    assert (september.tier, september.share_bps) == (Tier.ADVANCED, 8000)


async def test_a_refused_charge_fails_and_an_unknown_outcome_is_retried(
    world: World, other_world: World
) -> None:
    app = await _app(world)
    plan = await make_plan(world, app, PlanKind.RECURRING, amount=500, interval=PlanInterval.MONTH)
    declined = await make_installation(world, app, plan, activated_at=at(date(2021, 10, 1)))
    unanswered = await make_installation(
        world, app, plan, activated_at=at(date(2021, 10, 1)), shop_id=other_world.shop.id
    )
    spy = SpyCollector(refuse={world.shop.id}, unknown={other_world.shop.id})
    billing = Billing.on(world, at(date(2021, 10, 1)), spy)
    first = await run_billing(billing, date(2021, 10, 1))
    [failed] = await charges_of(world, declined)
    [pending] = await charges_of(world, unanswered)
    assert failed.status is ChargeStatus.FAILED and failed.earned_at is None
    assert first.collection.failed[failed.id] == "declined"
    assert pending.status is ChargeStatus.PENDING and pending.id in first.collection.pending
    assert pending.tier is None and pending.share_bps is None

    # The next run asks again for the unknown one only; a failed charge stays failed.
    billing.collector = retry = SpyCollector()
    billing.clock.now = at(date(2021, 10, 2))
    await run_billing(billing, date(2021, 10, 2))
    assert pending.id in retry.asked and failed.id not in retry.asked
    [collected] = await charges_of(world, unanswered)
    assert collected.status is ChargeStatus.COLLECTED
    assert collected.earned_at == at(date(2021, 10, 2))
    [still_failed] = await charges_of(world, declined)
    assert still_failed.status is ChargeStatus.FAILED
