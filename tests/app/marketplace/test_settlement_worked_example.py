"""Acceptance 2, the worked example, pinned: all in CNY, settled in UTC months.

A standard partner (70 %) earns three charges of 9.99 in November, is promoted to strategic
(85 %), earns one charge of 100.00 in December, and one November charge is refunded in full in
December after November's statement was frozen.

| statement | partner lines | fees  | clawback                          | net payable |
|-----------|---------------|-------|-----------------------------------|-------------|
| November  | 20.97         | 9.00  | none                              | 20.97       |
| December  | 85.00         | 15.00 | -6.99 (names November's statement) | 78.01       |
"""

from __future__ import annotations

import pytest

from marketplace.models import Tier
from marketplace.settlement_models import LineKind, RunStatus
from tests.support.factories import World
from tests.support.ledger import (
    approve,
    assert_balanced,
    lines_of,
    settle,
    statement_of,
)
from tests.support.marketplace import set_tier
from tests.support.worked_example import build_worked_example

pytestmark = pytest.mark.anyio


async def test_the_worked_example_settles_to_the_pinned_figures(world: World) -> None:
    # Given the worked example, with November settled and frozen before the refund
    example = await build_worked_example(world)
    november = example.november_run

    # When December is settled
    december = await settle(world, example.december, "CNY")

    # Then November shows the three charges at 70 %
    nov = await statement_of(world, november.id, example.partner_id)
    assert nov is not None
    assert (nov.gross, nov.partner_amount, nov.fees) == (2997, 2097, 900)
    assert (nov.refunds, nov.clawbacks, nov.carried_in, nov.net_payable) == (0, 0, 0, 2097)
    assert [
        (line.kind, line.gross, line.share_bps, line.partner_amount, line.fee)
        for line in await lines_of(world, nov.id)
    ] == [(LineKind.CHARGE, 999, 7000, 699, 300)] * 3
    # And December the 100.00 charge at 85 %, less the November charge clawed back at 70 %
    dec = await statement_of(world, december.id, example.partner_id)
    assert dec is not None
    assert (dec.gross, dec.partner_amount, dec.fees) == (10_000, 8500, 1500)
    assert (dec.refunds, dec.clawbacks, dec.net_payable) == (0, 699, 7801)
    charge, clawback = await lines_of(world, dec.id)
    assert (charge.kind, charge.share_bps, charge.partner_amount, charge.fee) == (
        LineKind.CHARGE,
        8500,
        8500,
        1500,
    )
    assert (clawback.kind, clawback.charge_id) == (LineKind.CLAWBACK, example.refunded_charge)
    assert (clawback.gross, clawback.share_bps, clawback.partner_amount, clawback.fee) == (
        -999,
        7000,
        -699,
        -300,
    )
    assert clawback.original_statement_id == nov.id
    # And the ledger balances
    await assert_balanced(world.services.db)


async def test_approving_december_chains_it_to_november(world: World) -> None:
    example = await build_worked_example(world)
    december = await settle(world, example.december, "CNY")

    approved = await approve(world, december.id)

    assert approved.status is RunStatus.APPROVED
    nov = await statement_of(world, example.november_run.id, example.partner_id)
    dec = await statement_of(world, december.id, example.partner_id)
    assert nov is not None and dec is not None
    assert nov.hash is not None and nov.previous_hash is None
    assert dec.previous_hash == nov.hash and dec.hash not in (None, nov.hash)


async def test_a_tier_change_after_earning_never_changes_what_was_earned(world: World) -> None:
    example = await build_worked_example(world)
    await set_tier(world, example.partner_id, Tier.STANDARD)

    december = await settle(world, example.december, "CNY")

    dec = await statement_of(world, december.id, example.partner_id)
    assert dec is not None and (dec.partner_amount, dec.clawbacks) == (8500, 699)
