"""Role-matrix rows for the ledger and settlement, for tests/schema/test_role_matrix.py.

Finance alone creates and approves runs, refunds charges and reads the ledger. A partner's
owner reads its own statements and earnings beside finance; community admins and finance
simulate. Money for the builders is in MXN, used by no other settlement test, in years of
their own (``next_year``), so each builder's run is the newest of its currency.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from tests.support.factories import World, gid
from tests.support.ledger import earn, make_earner, moment, next_year, settle
from tests.support.marketplace import make_partner

__all__ = ["SETTLEMENT_ROWS"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]
CURRENCY = "MXN"
FINANCE = frozenset({"finance"})
FINANCE_AND_OWNER = frozenset({"finance", "owner"})


async def settlement_run_create(world: World) -> Request:
    query = 'mutation($p: String!, $k: String!) { settlementRunCreate(period: $p, currency: "MXN", idempotencyKey: $k) { run { id } errors { code } } }'
    return query, {"p": f"{next_year()}-01", "k": uuid.uuid4().hex}


async def settlement_run_approve(world: World) -> Request:
    run = await settle(world, f"{next_year()}-01", CURRENCY, actor="user:matrix-maker")
    query = (
        "mutation($r: ID!) { settlementRunApprove(runId: $r) { run { status } errors { code } } }"
    )
    return query, {"r": gid("SettlementRun", run.id)}


async def charge_refund(world: World) -> Request:
    earner = await make_earner(world)
    charge = await earn(earner, 500, CURRENCY, moment(next_year(), 1))
    query = 'mutation($c: ID!, $k: String!) { chargeRefund(chargeId: $c, amount: {amount: "1.00", currencyCode: "MXN"}, idempotencyKey: $k) { refund { id } errors { code } } }'
    return query, {"c": gid("Charge", charge), "k": uuid.uuid4().hex}


async def settlement_runs(world: World) -> Request:
    return "{ settlementRuns(first: 1) { nodes { id } } }", {}


async def settlement_run(world: World) -> Request:
    run = await settle(world, f"{next_year()}-01", CURRENCY)
    query = (
        "query($r: ID!) { settlementRun(id: $r) { period statements(first: 5) { nodes { id } } } }"
    )
    return query, {"r": gid("SettlementRun", run.id)}


async def partner_statements(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = "query($p: ID!) { partnerStatements(partnerId: $p, first: 1) { nodes { id } } }"
    return query, {"p": gid("Partner", partner)}


async def partner_earnings(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = 'query($p: ID!) { partnerEarnings(partnerId: $p, period: "2031-01") { currency } }'
    return query, {"p": gid("Partner", partner)}


async def partner_statements_field(world: World) -> Request:
    # Partner is for its members; of them only the owner reads the money (finance has
    # partnerStatements).
    partner, _ = await make_partner(world)
    query = "query($p: ID!) { partner(partnerId: $p) { statements(first: 1) { nodes { id } } } }"
    return query, {"p": gid("Partner", partner)}


async def partner_earnings_field(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = 'query($p: ID!) { partner(partnerId: $p) { earnings(period: "2031-01") { currency } } }'
    return query, {"p": gid("Partner", partner)}


async def settlement_simulate(world: World) -> Request:
    return (
        '{ settlementSimulate(period: "2031-01", currency: "MXN", shareOverrides: [{tier: STANDARD, shareBps: 8000}]) { partners { partnerId } } }',
        {},
    )


async def ledger_accounts(world: World) -> Request:
    return "{ ledgerAccounts(first: 1) { nodes { key balance { amount } } } }", {}


async def ledger_entries(world: World) -> Request:
    return "{ ledgerEntries(first: 1) { nodes { source amount { amount } } } }", {}


SETTLEMENT_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.settlementRunCreate": (FINANCE, settlement_run_create),
    "Mutation.settlementRunApprove": (FINANCE, settlement_run_approve),
    "Mutation.chargeRefund": (FINANCE, charge_refund),
    "Query.settlementRuns": (FINANCE, settlement_runs),
    "Query.settlementRun": (FINANCE, settlement_run),
    "Query.partnerStatements": (FINANCE_AND_OWNER, partner_statements),
    "Query.partnerEarnings": (FINANCE_AND_OWNER, partner_earnings),
    "Partner.statements": (frozenset({"owner"}), partner_statements_field),
    "Partner.earnings": (frozenset({"owner"}), partner_earnings_field),
    "Query.settlementSimulate": (frozenset({"finance", "community_admin"}), settlement_simulate),
    "Query.ledgerAccounts": (FINANCE, ledger_accounts),
    "Query.ledgerEntries": (FINANCE, ledger_entries),
}
