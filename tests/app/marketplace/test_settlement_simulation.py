"""What-if settlement (acceptance 5): the worked example's November under a standard share of
80 % shows 23.97 next to the actual 20.97; other tiers keep their shares; nothing is written."""

from __future__ import annotations

import pytest

from app.errors import DomainError
from marketplace.models import Tier
from marketplace.simulation import PartnerSimulation, ShareOverride, simulate_period
from tests.support.factories import World
from tests.support.ledger import earn, entry_count, make_earner, moment, refund
from tests.support.worked_example import build_worked_example

pytestmark = pytest.mark.anyio


async def _simulate(
    world: World, period: str, *overrides: ShareOverride
) -> list[PartnerSimulation]:
    async with world.services.db.reader() as session:
        return await simulate_period(
            session, period=period, currency="CNY", timezone="UTC", overrides=overrides
        )


async def test_the_worked_example_at_80_percent(world: World) -> None:
    # Given the worked example, and a strategic partner earning beside it in November
    example = await build_worked_example(world)
    strategic = await make_earner(world, Tier.STRATEGIC)
    await earn(strategic, 999, "CNY", moment(example.year, 11, 20))
    before = await entry_count(world.services.db)

    # When November is replayed with the standard share at 80 %
    found = await _simulate(world, example.november, ShareOverride(Tier.STANDARD, 8000))

    # Then the standard partner would get 23.97, the strategic one what it got
    by_partner = {row.partner_id: row for row in found}
    standard = by_partner[example.partner_id]
    assert (standard.actual_partner_amount, standard.simulated_partner_amount) == (2097, 2397)
    assert (standard.actual_fees, standard.simulated_fees, standard.gross) == (900, 600, 2997)
    assert (standard.actual_net, standard.simulated_net) == (2097, 2397)
    other = by_partner[strategic.partner_id]
    assert other.simulated_partner_amount == other.actual_partner_amount == 849
    # And the ledger is unchanged
    assert await entry_count(world.services.db) == before


async def test_a_clawback_is_replayed_at_the_proposed_share_of_its_charges_tier(
    world: World,
) -> None:
    example = await build_worked_example(world)

    found = await _simulate(world, example.december, ShareOverride(Tier.STANDARD, 8000))

    [december] = [row for row in found if row.partner_id == example.partner_id]
    # The 100.00 charge was earned as strategic; the clawed-back 9.99 as standard.
    assert (december.actual_partner_amount, december.simulated_partner_amount) == (8500, 8500)
    assert (december.actual_given_back, december.simulated_given_back) == (699, 799)
    assert (december.actual_net, december.simulated_net) == (7801, 7701)


async def test_proposals_are_checked(world: World) -> None:
    for overrides in (
        (ShareOverride(Tier.STANDARD, 10_001),),
        (ShareOverride(Tier.STANDARD, 7000), ShareOverride(Tier.STANDARD, 7500)),
    ):
        with pytest.raises(DomainError):
            await _simulate(world, "2031-11", *overrides)


async def test_a_refund_of_this_period_is_replayed_too(world: World) -> None:
    example = await build_worked_example(world, approve_november=False)
    earner_charge = example.november_charges[1]
    await refund(world, earner_charge, 500, moment(example.year, 11, 25))

    found = await _simulate(world, example.november, ShareOverride(Tier.STANDARD, 10_000))

    [november] = [row for row in found if row.partner_id == example.partner_id]
    assert (november.simulated_partner_amount, november.simulated_given_back) == (2997, 500)
    assert (november.actual_given_back, november.simulated_fees) == (350, 0)
