"""Approved settlement runs to pay, made straight through the models, and what payout tests read
back: payouts, the ledger, the server's transfers.

A run here is what settlement would have frozen: per partner, one collected charge posted to
the ledger (``post_collection``, so the ledger balances) and a frozen statement whose net is
the partner's share. Each run has a period of its own far in the future (runs are unique per
period and currency) and a currency no other suite settles, so the settlement engineer's runs
never see these partners.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from marketplace.billing_models import Charge, ChargeKind, ChargeStatus
from marketplace.ledger import post_collection, split_charge, unbalanced_transactions
from marketplace.ledger_models import AccountKind, LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.models import Tier
from marketplace.payout_models import PartnerPayoutAccount, Payout
from marketplace.settlement_models import PayoutStatus, RunStatus, SettlementRun, Statement
from tests.support.billing import make_installation
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner

__all__ = [
    "CURRENCY",
    "Run",
    "approved_run",
    "give_account",
    "payable_balance",
    "payouts_of",
    "postings",
    "statuses",
    "unbalanced",
]

CURRENCY = "SEK"
SHARE_BPS = 7_000
_PERIODS = itertools.count(random.randrange(0, 90_000))


@dataclass(frozen=True)
class Run:
    id: int
    statements: list[int]  # in the order the grosses were given
    partners: list[int]
    owners: list[str]  # each partner owner's token
    nets: list[int]

    @property
    def group(self) -> str:
        return f"run-{self.id}"


def _period() -> tuple[str, datetime, datetime]:
    n = next(_PERIODS)
    year, month = 2200 + n // 12, n % 12 + 1
    starts = datetime(year, month, 1, tzinfo=UTC)
    ends = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    return f"{year:04d}-{month:02d}", starts, ends


async def _charge(world: World, partner_id: int, gross: int, earned_at: datetime) -> int:
    """A collected charge of the partner, posted to the ledger; its partner share."""
    app, _ = await make_app(world, partner_id)
    installation = await make_installation(world, app, None, activated_at=earned_at)
    async with world.services.db.writer() as session, session.begin():
        charge = Charge(
            installation_id=installation.id,
            partner_id=partner_id,
            shop_id=installation.shop_id,
            kind=ChargeKind.ONE_TIME,
            period_start=earned_at.date(),
            period_end=earned_at.date() + timedelta(days=1),
            amount=gross,
            currency=CURRENCY,
            status=ChargeStatus.COLLECTED,
            tier=Tier.STANDARD,
            share_bps=SHARE_BPS,
            earned_at=earned_at,
        )
        session.add(charge)
        await session.flush()
        await post_collection(session, charge)
    return split_charge(gross, SHARE_BPS)[0]


async def approved_run(
    world: World, grosses: Sequence[int], *, status: RunStatus = RunStatus.APPROVED
) -> Run:
    """A run with one frozen statement per gross: a new partner whose charge of that gross was
    collected in the period (0: a partner with nothing, so a statement with a zero net)."""
    period, starts, ends = _period()
    partners, owners, nets = [], [], []
    for gross in grosses:
        partner, owner = await make_partner(world)
        partners.append(partner)
        owners.append(owner)
        nets.append(
            await _charge(world, partner, gross, starts + timedelta(days=3)) if gross else 0
        )
    async with world.services.db.writer() as session, session.begin():
        run = SettlementRun(
            period=period,
            currency=CURRENCY,
            timezone="UTC",
            starts_at=starts,
            ends_at=ends,
            status=status,
            created_by="user:maker",
            approved_by="user:checker" if status is not RunStatus.DRAFT else None,
            approved_at=ends if status is not RunStatus.DRAFT else None,
        )
        session.add(run)
        await session.flush()
        rows = [
            Statement(
                run_id=run.id,
                partner_id=partner,
                currency=CURRENCY,
                gross=gross,
                partner_amount=net,
                fees=gross - net,
                net_payable=net,
                hash="0" * 64,
                frozen_at=ends if status is not RunStatus.DRAFT else None,
                payout_status=PayoutStatus.NONE,
            )
            for partner, gross, net in zip(partners, grosses, nets, strict=True)
        ]
        session.add_all(rows)
        await session.flush()
    return Run(run.id, [s.id for s in rows], partners, owners, nets)


async def give_account(world: World, partner_id: int, account_id: str) -> None:
    """Record a payout account without Stripe (for apps without it)."""
    async with world.services.db.writer() as session, session.begin():
        session.add(PartnerPayoutAccount(partner_id=partner_id, stripe_account_id=account_id))


async def payouts_of(world: World, run_id: int) -> list[Payout]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(
            select(Payout)
            .where(Payout.run_id == run_id)
            .order_by(Payout.statement_id, Payout.attempt)
        )
        return list(rows)


async def statuses(world: World, run: Run) -> tuple[RunStatus, list[PayoutStatus]]:
    async with world.services.db.reader() as session:
        run_status = await session.scalar(
            select(SettlementRun.status).where(SettlementRun.id == run.id)
        )
        rows = await session.execute(
            select(Statement.id, Statement.payout_status).where(Statement.run_id == run.id)
        )
        found = dict(rows.all())  # type: ignore[arg-type]
    assert run_status is not None
    return run_status, [found[s] for s in run.statements]


async def postings(world: World, source: str) -> int:
    """How many ledger transactions carry ``source`` (``payout:<id>``): 0 or 1."""
    async with world.services.db.reader() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.source == source)
        )
    return int(count or 0)


async def payable_balance(world: World, partner_id: int) -> int:
    """The partner's payable account: minus what it is owed (credits are negative)."""
    async with world.services.db.reader() as session:
        total = await session.scalar(
            select(func.coalesce(func.sum(LedgerEntry.amount), 0))
            .join(LedgerAccount, LedgerAccount.id == LedgerEntry.account_id)
            .where(
                LedgerAccount.kind == AccountKind.PARTNER_PAYABLE,
                LedgerAccount.partner_id == partner_id,
            )
        )
    return int(total or 0)


async def unbalanced(world: World) -> list[tuple[int, str, int]]:
    async with world.services.db.reader() as session:
        return await unbalanced_transactions(session)
