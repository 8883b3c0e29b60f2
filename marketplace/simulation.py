"""What-if settlement: a period replayed under proposed tier shares, posting and storing nothing.

Community admins and finance price a tier policy change before it is switched on. The period's
collections and refunds are read from the ledger exactly as a statement reads them, but
aggregated by (partner, tier at earning time, share, line kind, gross) with a count: charges
alike split alike, so each group is split once with ``split_charge`` at the proposed share of
its tier and multiplied by its count. Charges of tiers without a proposal keep their share.

The figures are the period's own, as a statement would show them before any balance carried
in: the partner's part of the charges, the platform's fees, and the net after refunds and
clawbacks (each split by the same rule as the charge it gives back).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from marketplace.errors import MarketplaceErrorCode
from marketplace.ledger import BPS, split_charge
from marketplace.models import Tier
from marketplace.settlement import checked_currency, period_window
from marketplace.settlement_models import LineKind
from marketplace.statements import line_kind, period_postings

__all__ = ["PartnerSimulation", "ShareOverride", "simulate_period"]


@dataclass(frozen=True, slots=True)
class ShareOverride:
    tier: Tier
    share_bps: int


@dataclass
class PartnerSimulation:
    """One partner's period as it was and as it would be; amounts in minor units."""

    partner_id: int
    gross: int = 0
    actual_partner_amount: int = 0
    simulated_partner_amount: int = 0
    actual_fees: int = 0
    simulated_fees: int = 0
    actual_given_back: int = 0  # refunds and clawbacks, the partner's part
    simulated_given_back: int = 0

    @property
    def actual_net(self) -> int:
        return self.actual_partner_amount - self.actual_given_back

    @property
    def simulated_net(self) -> int:
        return self.simulated_partner_amount - self.simulated_given_back


def _shares(overrides: Sequence[ShareOverride]) -> dict[Tier, int]:
    shares: dict[Tier, int] = {}
    for index, override in enumerate(overrides):
        if not 0 <= override.share_bps <= BPS:
            raise DomainError.one(
                MarketplaceErrorCode.INVALID,
                "A share is 0 to 10,000 basis points.",
                "shareOverrides",
                str(index),
                "shareBps",
            )
        if override.tier in shares:
            raise DomainError.one(
                MarketplaceErrorCode.INVALID,
                "Give each tier's share once.",
                "shareOverrides",
                str(index),
                "tier",
            )
        shares[override.tier] = override.share_bps
    return shares


def _line(value: LineKind) -> Any:
    return literal(value.value)


async def simulate_period(
    session: AsyncSession,
    *,
    period: str,
    currency: str,
    timezone: str,
    overrides: Sequence[ShareOverride],
) -> list[PartnerSimulation]:
    """Every partner with a collection or refund in the period, by partner id."""
    shares = _shares(overrides)
    window = period_window(period, timezone)
    postings = period_postings(
        window.starts_at, window.ends_at, currency=checked_currency(currency)
    ).subquery()
    kind = line_kind(postings, window.starts_at, _line).label("line")
    groups = await session.execute(
        select(
            postings.c.partner_id,
            postings.c.tier,
            postings.c.share_bps,
            kind,
            postings.c.gross,
            func.count().label("charges"),
            func.sum(postings.c.partner_amount).label("partner_amount"),
            func.sum(postings.c.fee).label("fee"),
        ).group_by(
            postings.c.partner_id,
            postings.c.tier,
            postings.c.share_bps,
            kind,
            postings.c.gross,
        )
    )
    partners: dict[int, PartnerSimulation] = defaultdict(lambda: PartnerSimulation(0))
    for group in groups:
        found = partners[group.partner_id]
        found.partner_id = group.partner_id
        share = shares.get(group.tier, group.share_bps) if group.tier else group.share_bps
        part, fee = split_charge(abs(group.gross), share)
        simulated_part, simulated_fee = part * group.charges, fee * group.charges
        if group.line == LineKind.CHARGE.value:
            found.gross += group.gross * group.charges
            found.actual_partner_amount += group.partner_amount
            found.simulated_partner_amount += simulated_part
            found.actual_fees += group.fee
            found.simulated_fees += simulated_fee
        else:  # a refund or clawback: its amounts are negative, given back
            found.actual_given_back -= group.partner_amount
            found.simulated_given_back += simulated_part
    return [partners[key] for key in sorted(partners)]
