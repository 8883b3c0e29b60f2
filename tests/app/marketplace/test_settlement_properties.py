"""Acceptance 1, over random histories of charges, refunds, tier changes mid-period and
currencies, each played through the real flows over three months of a year of its own:

- every ledger transaction balances;
- the share on every charge and its entries is the one of the partner's tier at earning time;
- every statement holds exactly what a plain-Python model of the rules says, and its chain
  verifies;
- recomputing the statements from scratch, from the ledger copied to a fresh database, gives
  the same figures, lines and hashes.

The split's own properties (partner within a unit of the exact share, partner plus fee equal to
the gross) are in test_ledger_split.py, over many more examples.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, event, given, settings
from sqlalchemy import select

from app.config import Settings
from app.db import Database
from marketplace.billing_models import Charge
from marketplace.ledger_models import LedgerEntry
from marketplace.settlement_models import SettlementRun, Statement
from marketplace.statement_hash import verify_chain
from tests.support.factories import World
from tests.support.ledger import approve, assert_balanced, settle
from tests.support.recompute import LedgerCopy, copy_ledger, ledger_copy, statement_views
from tests.support.scenarios import Played, Scenario, expected_statements, play, scenarios

pytestmark = pytest.mark.anyio

SLOW_AND_SHARED = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
PROPERTIES = settings(
    max_examples=40,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=SLOW_AND_SHARED,
)
RECOMPUTE = settings(
    max_examples=10,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=SLOW_AND_SHARED,
)


@pytest.fixture
async def copy(settings: Settings) -> AsyncIterator[LedgerCopy]:
    """One throwaway database per test; examples keep to partners and years of their own."""
    async with ledger_copy(settings) as made:
        yield made


async def _settle_each_month(
    world: World, played: Played, scenario: Scenario, db: Database | None = None
) -> None:
    for currency in scenario.currencies:
        for month in (1, 2, 3):
            run = await settle(world, f"{played.year}-{month:02d}", currency, db=db)
            await approve(world, run.id, db=db)


def _note_coverage(played: Played, found: dict[tuple[int, str, int], tuple[int, ...]]) -> None:
    """What the examples exercised (``--hypothesis-show-statistics``)."""
    event(f"charges: {min(len(played.charges), 5)}+")
    event(f"refund lines: {any(f[3] for f in found.values())}")
    event(f"clawback lines: {any(f[4] for f in found.values())}")
    event(f"negative net carried: {any(f[5] for f in found.values())}")
    event(f"shares per partner > 1: {_mixed_shares(played)}")


def _mixed_shares(played: Played) -> bool:
    shares: dict[int, set[int]] = {}
    for charge in played.charges:
        shares.setdefault(charge.partner_id, set()).add(charge.share_bps)
    return any(len(found) > 1 for found in shares.values())


@PROPERTIES
@given(scenarios())
async def test_statements_follow_the_rules_and_the_ledger_balances(
    world: World, scenario: Scenario
) -> None:
    # Given a random history, played through collection, tier changes and refunds
    played = await play(world, scenario)

    # When each month is settled and approved in each currency
    await _settle_each_month(world, played, scenario)

    # Then every transaction balances
    db = world.services.db
    await assert_balanced(db)
    async with db.reader() as session:
        # And every charge, and each of its entries, carries the share of its earning time
        ids = [charge.charge_id for charge in played.charges]
        frozen = dict(
            (
                await session.execute(select(Charge.id, Charge.share_bps).where(Charge.id.in_(ids)))
            ).all()
        )
        posted = (
            await session.execute(
                select(LedgerEntry.charge_id, LedgerEntry.share_bps).where(
                    LedgerEntry.charge_id.in_(ids)
                )
            )
        ).all()
        assert frozen == {c.charge_id: c.share_bps for c in played.charges}
        assert all(share == frozen[charge] for charge, share in posted)
        # And the statements are what the model says
        rows = (
            await session.execute(
                select(Statement, SettlementRun.period)
                .join(SettlementRun, SettlementRun.id == Statement.run_id)
                .where(Statement.partner_id.in_(played.partner_ids))
            )
        ).all()
        found = {
            (s.partner_id, s.currency, int(period[-2:])): (
                s.gross,
                s.partner_amount,
                s.fees,
                s.refunds,
                s.clawbacks,
                s.carried_in,
                s.net_payable,
            )
            for s, period in rows
        }
        assert found == expected_statements(played)
        _note_coverage(played, found)
        # And every partner's chain verifies
        for partner in played.partner_ids:
            for currency in scenario.currencies:
                assert (await verify_chain(session, partner, currency)).valid


@RECOMPUTE
@given(scenarios(max_steps=8))
async def test_recomputing_from_the_ledger_on_a_fresh_database_gives_the_same_statements(
    world: World, copy: LedgerCopy, scenario: Scenario
) -> None:
    # Given a random history settled and approved in the suite's database
    played = await play(world, scenario)
    await _settle_each_month(world, played, scenario)

    # When its ledger alone is copied to a fresh database and settled there again
    await copy_ledger(world.services.db, copy, played.partner_ids)
    await _settle_each_month(world, played, scenario, db=copy.db)

    # Then the statements have the same figures, lines and hashes
    original = await statement_views(world.services.db, played.partner_ids)
    recomputed = await statement_views(copy.db, played.partner_ids)
    assert recomputed == original
    assert all(view.hash for view in original)
