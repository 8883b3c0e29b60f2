"""Random money histories for the settlement properties, and a model of what they should settle to.

A scenario is partners with starting tiers and a list of steps (earn, change tier, refund)
spread evenly over the first three calendar months of a year of its own. ``play`` runs it through the real
flows in time order; ``expected_statements`` computes, in plain Python with ``split_charge``,
what each statement must hold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hypothesis import strategies as st
from sqlalchemy import select

from marketplace.ledger import split_charge
from marketplace.models import Tier, TierPolicy
from tests.support.factories import World
from tests.support.ledger import earn, make_earner, next_year, refund
from tests.support.marketplace import set_tier

__all__ = ["Played", "Scenario", "expected_statements", "play", "scenarios"]

CURRENCIES = ("KRW", "KWD", "HKD", "SGD")  # none of them used by another settlement test
TIERS = tuple(Tier)

Step = tuple[str, int, int, int]
"""("earn", partner, currency index, amount), ("tier", partner, tier index, 0) or
("refund", charge index, percent, 0)."""


@dataclass(frozen=True)
class Scenario:
    tiers: tuple[Tier, ...]
    currencies: tuple[str, ...]
    steps: tuple[Step, ...]


@st.composite
def scenarios(draw: st.DrawFn, max_steps: int = 20) -> Scenario:
    partners = draw(st.integers(1, 2))
    tiers = tuple(draw(st.lists(st.sampled_from(TIERS), min_size=partners, max_size=partners)))
    currencies = tuple(
        draw(st.lists(st.sampled_from(CURRENCIES), min_size=1, max_size=2, unique=True))
    )
    earning = st.tuples(
        st.just("earn"),
        st.integers(0, partners - 1),
        st.integers(0, len(currencies) - 1),
        st.one_of(st.integers(1, 1_000), st.integers(1, 5_000_000)),
    )
    tier_change = st.tuples(
        st.just("tier"), st.integers(0, partners - 1), st.integers(0, 2), st.just(0)
    )
    # Full refunds are the usual way to a negative net, so they come up often.
    giving_back = st.tuples(
        st.just("refund"),
        st.integers(0, 50),
        st.one_of(st.just(100), st.integers(1, 100)),
        st.just(0),
    )
    step = st.one_of(earning, earning, tier_change, giving_back, giving_back)
    steps = tuple(draw(st.lists(step, min_size=6, max_size=max_steps)))
    return Scenario(tiers, currencies, steps)


@dataclass(frozen=True)
class Earned:
    charge_id: int
    partner_id: int
    currency: str
    amount: int
    share_bps: int
    month: int


@dataclass
class Played:
    year: int
    partner_ids: list[int]
    charges: list[Earned] = field(default_factory=list)
    refunds: list[tuple[Earned, int, int]] = field(default_factory=list)  # (charge, amount, month)


def _times(year: int, count: int) -> list[datetime]:
    start = datetime(year, 1, 1, tzinfo=UTC)
    span = datetime(year, 4, 1, tzinfo=UTC) - start
    return [start + span * (index + 1) / (count + 1) for index in range(count)]


async def _shares(world: World) -> dict[Tier, int]:
    async with world.services.db.reader() as session:
        rows = await session.execute(select(TierPolicy.tier, TierPolicy.share_bps))
        return {row.tier: row.share_bps for row in rows}


async def play(world: World, scenario: Scenario) -> Played:
    """Run the scenario through collection, tier changes and refunds, in time order."""
    shares = await _shares(world)
    year = next_year()
    earners = []
    for tier in scenario.tiers:
        earners.append(await make_earner(world, tier))
    tiers = list(scenario.tiers)
    played = Played(year, [earner.partner_id for earner in earners])
    refunded: dict[int, int] = defaultdict(int)
    for (kind, a, b, c), at in zip(scenario.steps, _times(year, len(scenario.steps)), strict=True):
        if kind == "earn":
            currency = scenario.currencies[b]
            charge = await earn(earners[a], c, currency, at)
            share = shares[tiers[a]]
            played.charges.append(
                Earned(charge, earners[a].partner_id, currency, c, share, at.month)
            )
        elif kind == "tier":
            tiers[a] = TIERS[b]
            await set_tier(world, earners[a].partner_id, tiers[a])
        elif played.charges:
            original = played.charges[a % len(played.charges)]
            left = original.amount - refunded[original.charge_id]
            amount = min(left, max(1, original.amount * b // 100))
            if amount > 0:
                await refund(world, original.charge_id, amount, at)
                refunded[original.charge_id] += amount
                played.refunds.append((original, amount, at.month))
    return played


Figures = tuple[int, int, int, int, int, int, int]
"""gross, partner amount, fees, refunds, clawbacks, carried in, net payable."""


def expected_statements(played: Played) -> dict[tuple[int, str, int], Figures]:
    """By (partner, currency, month): what the three months' statements must show."""
    sums: dict[tuple[int, str, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for charge in played.charges:
        partner, fee = split_charge(charge.amount, charge.share_bps)
        total = sums[charge.partner_id, charge.currency, charge.month]
        total[0] += charge.amount
        total[1] += partner
        total[2] += fee
    for charge, amount, month in played.refunds:
        partner, _ = split_charge(amount, charge.share_bps)
        total = sums[charge.partner_id, charge.currency, month]
        total[3 if charge.month == month else 4] += partner
    expected: dict[tuple[int, str, int], Figures] = {}
    for key in sorted(sums, key=lambda k: (k[0], k[1], k[2])):
        partner_id, currency, month = key
        gross, partner, fees, refunds, clawbacks = sums[key]
        earlier = next(
            (
                expected[p, c, m]
                for p, c, m in reversed(expected)
                if (p, c) == (partner_id, currency)
            ),
            None,
        )
        carried = min(earlier[6], 0) if earlier else 0
        net = partner - refunds - clawbacks + carried
        expected[key] = (gross, partner, fees, refunds, clawbacks, carried, net)
    return expected
