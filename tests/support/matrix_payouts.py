"""Role-matrix rows for payouts, for tests/schema/test_role_matrix.py.

Only finance pays runs and reads their payouts; only a partner's owner makes and reads its
payout account. The matrix app has no Stripe, so each allowed call is one that needs none: the
run to pay has nothing payable (its only statement nets zero, so paying marks it PAID), and the
partner already has its account (so the create is an idempotent replay). Both still write their
one audit record.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.factories import World, gid, unique
from tests.support.marketplace import make_partner
from tests.support.payouts import approved_run, give_account

__all__ = ["PAYOUT_ROWS"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]


async def settlement_run_pay(world: World) -> Request:
    run = await approved_run(world, [0])
    query = "mutation($r: ID!) { settlementRunPay(runId: $r) { status errors { code } } }"
    return query, {"r": gid("SettlementRun", run.id)}


async def settlement_run_payouts(world: World) -> Request:
    run = await approved_run(world, [0])
    query = "query($r: ID!) { settlementRunPayouts(runId: $r) { id status } }"
    return query, {"r": gid("SettlementRun", run.id)}


async def partner_payout_account_create(world: World) -> Request:
    partner, _ = await make_partner(world)
    await give_account(world, partner, unique("acct_matrix"))
    query = "mutation($p: ID!) { partnerPayoutAccountCreate(partnerId: $p) { created errors { code } } }"
    return query, {"p": gid("Partner", partner)}


async def partner_payout_account(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = "query($p: ID!) { partnerPayoutAccount(partnerId: $p) { stripeAccountId } }"
    return query, {"p": gid("Partner", partner)}


PAYOUT_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.settlementRunPay": (frozenset({"finance"}), settlement_run_pay),
    "Mutation.partnerPayoutAccountCreate": (frozenset({"owner"}), partner_payout_account_create),
    "Query.settlementRunPayouts": (frozenset({"finance"}), settlement_run_payouts),
    "Query.partnerPayoutAccount": (frozenset({"owner"}), partner_payout_account),
}
