"""Usage records: priced by the plan, held under the period's cap (also when they race), made
once per idempotency key, and only for the calling app's active installation."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from marketplace.app_models import App, Installation, InstallationStatus
from marketplace.billing_models import UsageRecord
from marketplace.listing_models import PlanInterval, PlanKind
from marketplace.usage import MAX_QUANTITY, RecordedUsage, period_usage, record_usage_once
from tests.support.billing import Billing, at, make_installation, make_plan
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner

pytestmark = pytest.mark.anyio

NOW = at(date(2022, 3, 10))


async def _installed(
    world: World,
    *,
    unit: int = 100,
    cap: int | None = 1000,
    kind: PlanKind = PlanKind.USAGE,
    interval: PlanInterval | None = None,
    status: InstallationStatus = InstallationStatus.ACTIVE,
) -> tuple[App, Installation]:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(world, app, kind, amount=unit, usage_cap=cap, interval=interval)
    return app, await make_installation(world, app, plan, activated_at=NOW, status=status)


async def _record(
    billing: Billing, app: App, installation: Installation, quantity: int, key: str, **kw: object
) -> RecordedUsage:
    return await record_usage_once(
        billing,
        installation.id,
        quantity,
        str(kw.get("description", "api calls")),
        key,
        str(kw.get("client_id", app.client_id)),
        shop_id=kw.get("shop_id"),  # type: ignore[arg-type]
    )


def _codes(refused: pytest.ExceptionInfo[DomainError]) -> list[tuple[str, tuple[str, ...]]]:
    return [(p.code.value, p.field) for p in refused.value.problems]


async def _records(world: World, installation: Installation) -> int:
    async with world.services.db.reader() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(UsageRecord)
            .where(UsageRecord.installation_id == installation.id)
        )
    return int(count or 0)


async def test_a_record_is_priced_by_the_plan_and_counts_toward_its_period(world: World) -> None:
    app, installation = await _installed(world, unit=125, cap=None)
    billing = Billing.on(world, NOW)
    recorded = await _record(billing, app, installation, 8, "k1", shop_id=world.shop.id)
    assert (recorded.quantity, recorded.amount, recorded.currency) == (8, 1000, "EUR")
    assert (recorded.period_start, recorded.created_at, recorded.replayed) == (
        date(2022, 3, 1),
        NOW,
        False,
    )


async def test_a_record_over_the_cap_is_refused_whole(world: World) -> None:
    app, installation = await _installed(world, unit=100, cap=1000)
    billing = Billing.on(world, NOW)
    await _record(billing, app, installation, 6, "a")
    with pytest.raises(DomainError) as refused:
        await _record(billing, app, installation, 5, "b")
    assert _codes(refused) == [("USAGE_CAP_EXCEEDED", ("quantity",))]
    assert "400 remain" in str(refused.value)
    await _record(billing, app, installation, 4, "c")  # exactly at the cap
    with pytest.raises(DomainError) as full:
        await _record(billing, app, installation, 1, "d")
    assert _codes(full) == [("USAGE_CAP_EXCEEDED", ("quantity",))]
    async with world.services.db.reader() as session:
        assert await period_usage(session, installation.id, date(2022, 3, 1)) == 1000

    # The cap is per period: April starts from nothing.
    billing.clock.now = at(date(2022, 4, 1), 0)
    april = await _record(billing, app, installation, 10, "e")
    assert (april.period_start, april.amount) == (date(2022, 4, 1), 1000)


async def test_a_yearly_usage_plan_caps_the_calendar_year(world: World) -> None:
    app, installation = await _installed(world, unit=10, cap=100, interval=PlanInterval.YEAR)
    billing = Billing.on(world, at(date(2022, 2, 1)))
    await _record(billing, app, installation, 6, "y1")
    billing.clock.now = at(date(2022, 11, 30))
    with pytest.raises(DomainError) as refused:
        await _record(billing, app, installation, 5, "y2")
    assert _codes(refused) == [("USAGE_CAP_EXCEEDED", ("quantity",))]
    billing.clock.now = at(date(2023, 1, 1))
    assert (await _record(billing, app, installation, 5, "y3")).period_start == date(2023, 1, 1)


async def test_a_replay_returns_the_first_record_and_other_input_conflicts(world: World) -> None:
    app, installation = await _installed(world)
    billing = Billing.on(world, NOW)
    first = await _record(billing, app, installation, 3, "same-key")
    billing.clock.now = at(date(2022, 3, 11))
    replay = await _record(billing, app, installation, 3, "same-key")
    assert replay.replayed is True
    assert (replay.id, replay.amount, replay.created_at) == (first.id, 300, NOW)
    with pytest.raises(DomainError) as conflict:
        await _record(billing, app, installation, 4, "same-key")
    assert _codes(conflict) == [("IDEMPOTENCY_CONFLICT", ("idempotencyKey",))]
    with pytest.raises(DomainError) as described:
        await _record(billing, app, installation, 3, "same-key", description="other")
    assert _codes(described) == [("IDEMPOTENCY_CONFLICT", ("idempotencyKey",))]
    assert await _records(world, installation) == 1


async def test_a_refused_record_leaves_its_key_unused(world: World) -> None:
    app, installation = await _installed(world, unit=100, cap=500)
    billing = Billing.on(world, NOW)
    with pytest.raises(DomainError):
        await _record(billing, app, installation, 6, "retry-me")
    retried = await _record(billing, app, installation, 5, "retry-me")
    assert (retried.replayed, retried.amount) == (False, 500)


async def test_only_the_calling_apps_active_usage_installation_may_record(
    world: World, other_world: World
) -> None:
    app, installation = await _installed(world)
    other_partner, _ = await make_partner(world)
    other_app, _ = await make_app(world, other_partner)
    billing = Billing.on(world, NOW)
    not_found = [("NOT_FOUND", ("installationId",))]
    with pytest.raises(DomainError) as foreign_app:
        await _record(billing, app, installation, 1, "x1", client_id=other_app.client_id)
    assert _codes(foreign_app) == not_found
    with pytest.raises(DomainError) as foreign_shop:
        await _record(billing, app, installation, 1, "x2", shop_id=other_world.shop.id)
    assert _codes(foreign_shop) == not_found
    with pytest.raises(DomainError) as missing:
        await record_usage_once(billing, 2**62, 1, "", "x3", app.client_id)
    assert _codes(missing) == not_found

    gone_app, gone = await _installed(world, status=InstallationStatus.UNINSTALLED)
    with pytest.raises(DomainError) as uninstalled:
        await _record(billing, gone_app, gone, 1, "x4")
    assert _codes(uninstalled) == [("NOT_INSTALLED", ("installationId",))]

    flat_app, flat = await _installed(world, kind=PlanKind.RECURRING, cap=None)
    with pytest.raises(DomainError) as mismatch:
        await _record(billing, flat_app, flat, 1, "x5")
    assert _codes(mismatch) == [("PLAN_MISMATCH", ("installationId",))]
    assert await _records(world, installation) == 0


@pytest.mark.parametrize(
    ("quantity", "description", "key", "field"),
    [
        (0, "", "k", ("quantity",)),
        (-3, "", "k", ("quantity",)),
        (MAX_QUANTITY + 1, "", "k", ("quantity",)),
        (1, "x" * 501, "k", ("description",)),
        (1, "", "", ("idempotencyKey",)),
        (1, "", "k" * 201, ("idempotencyKey",)),
    ],
)
async def test_bad_input_is_refused(
    world: World, quantity: int, description: str, key: str, field: tuple[str, ...]
) -> None:
    app, installation = await _installed(world, cap=None)
    billing = Billing.on(world, NOW)
    with pytest.raises(DomainError) as refused:
        await record_usage_once(billing, installation.id, quantity, description, key, app.client_id)
    assert _codes(refused) == [("INVALID", field)]


async def test_the_largest_quantity_is_accepted(world: World) -> None:
    app, installation = await _installed(world, unit=3, cap=None)
    recorded = await _record(Billing.on(world, NOW), app, installation, MAX_QUANTITY, "big")
    assert recorded.amount == 3 * MAX_QUANTITY


async def test_concurrent_records_never_pass_the_cap_together(world: World) -> None:
    app, installation = await _installed(world, unit=100, cap=550)
    billing = Billing.on(world, NOW)

    async def attempt(n: int) -> str:
        try:
            await _record(billing, app, installation, 1, f"race-{n}")
        except DomainError as error:
            return ",".join(p.code.value for p in error.problems)
        return "recorded"

    outcomes = await asyncio.gather(*(attempt(n) for n in range(10)))
    assert sorted(outcomes) == ["USAGE_CAP_EXCEEDED"] * 5 + ["recorded"] * 5
    async with world.services.db.reader() as session:
        assert await period_usage(session, installation.id, date(2022, 3, 1)) == 500
    assert await _records(world, installation) == 5
