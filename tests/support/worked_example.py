"""The worked example of issue 7 (acceptance 2), built through the real flows, all in CNY.

Each build takes a year of its own, so it can be built by any number of tests. November is
settled and approved (frozen) before the refund; December is left for the test to settle.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketplace.models import Tier
from marketplace.settlement_models import SettlementRun
from tests.support.factories import World
from tests.support.ledger import approve, earn, make_earner, moment, next_year, refund, settle
from tests.support.marketplace import set_tier

__all__ = ["WorkedExample", "build_worked_example"]


@dataclass(frozen=True)
class WorkedExample:
    year: int
    partner_id: int
    owner_token: str
    november_charges: list[int]
    december_charge: int
    refunded_charge: int
    november_run: SettlementRun

    @property
    def november(self) -> str:
        return f"{self.year}-11"

    @property
    def december(self) -> str:
        return f"{self.year}-12"


async def build_worked_example(world: World, *, approve_november: bool = True) -> WorkedExample:
    year = next_year()
    earner = await make_earner(world, Tier.STANDARD)
    november = [await earn(earner, 999, "CNY", moment(year, 11, day)) for day in (3, 10, 17)]
    await set_tier(world, earner.partner_id, Tier.STRATEGIC)
    december = await earn(earner, 10_000, "CNY", moment(year, 12, 8))
    november_run = await settle(world, f"{year}-11", "CNY")
    if approve_november:
        november_run = await approve(world, november_run.id)
    await refund(world, november[0], 999, moment(year, 12, 15))
    return WorkedExample(
        year=year,
        partner_id=earner.partner_id,
        owner_token=earner.owner_token,
        november_charges=november,
        december_charge=december,
        refunded_charge=november[0],
        november_run=november_run,
    )
