"""Finance reads the ledger and refunds app charges through HTTP.

Money here is in NOK, in years of its own, so no other test's entries mix in.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from app.security.audit import AuditEvent
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.ledger import assert_balanced, earn, make_earner, moment, next_year
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

REFUND = """mutation($c: ID!, $a: MoneyInput!, $k: String!) {
  chargeRefund(chargeId: $c, amount: $a, idempotencyKey: $k, reason: "goodwill") {
    refund { id amount { amount currencyCode } reason } charge { id } replayed
    errors { code field } } }"""
ENTRIES = """query($f: LedgerEntryFilter, $n: Int, $after: String) {
  ledgerEntries(filter: $f, first: $n, after: $after) {
    nodes { source accountKey kind amount { amount } partnerId chargeId shareBps gross { amount } }
    pageInfo { hasNextPage endCursor } } }"""


def _nok(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "NOK"}


async def _refund(gql: GraphQLClient, token: str, charge: int, amount: str, key: str) -> Any:
    variables = {"c": gid("Charge", charge), "a": _nok(amount), "k": key}
    return (await gql(REFUND, variables, token=token)).ok()["chargeRefund"]


async def test_refunds_never_pass_the_charge_and_are_audited(
    world: World, gql: GraphQLClient
) -> None:
    # Given a collected charge of 10.00
    earner = await make_earner(world)
    charge = await earn(earner, 1000, "NOK", moment(next_year(), 3))
    finance = (await world.user("finance", domain="platform"))[1]
    key = uuid.uuid4().hex

    # When finance refunds 6.00, replays it, then asks for 4.01 more
    first = await _refund(gql, finance, charge, "6.00", key)
    replay = await _refund(gql, finance, charge, "6.00", key)
    too_much = await _refund(gql, finance, charge, "4.01", uuid.uuid4().hex)
    rest = await _refund(gql, finance, charge, "4.00", uuid.uuid4().hex)

    # Then 6.00 and 4.00 are refunded once each, and 4.01 is refused
    assert first["errors"] == [] and first["refund"]["amount"] == _nok("6.00")
    assert replay["replayed"] and replay["refund"]["id"] == first["refund"]["id"]
    assert too_much["errors"] == [{"code": "REFUND_EXCEEDS_CHARGE", "field": ["amount"]}]
    assert rest["errors"] == []
    # And each refund was audited on the platform, in the ledger, balanced
    async with world.services.db.reader() as session:
        audited = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "chargeRefund",
                    AuditEvent.target_id.in_([first["refund"]["id"], rest["refund"]["id"]]),
                )
            )
        )
    assert [(e.domain, e.outcome.value) for e in audited] == [("platform", "allowed")] * 2
    await assert_balanced(world.services.db)


async def test_a_refund_in_another_currency_or_of_nothing_is_refused(
    world: World, gql: GraphQLClient
) -> None:
    earner = await make_earner(world)
    charge = await earn(earner, 1000, "NOK", moment(next_year(), 3))
    finance = (await world.user("finance", domain="platform"))[1]

    euros = {"c": gid("Charge", charge), "a": {"amount": "1.00", "currencyCode": "EUR"}, "k": "k1"}
    wrong = (await gql(REFUND, euros, token=finance)).ok()["chargeRefund"]
    nothing = await _refund(gql, finance, charge, "0.00", uuid.uuid4().hex)
    unknown = (await gql(REFUND, {**euros, "c": gid("Charge", 10**12)}, token=finance)).ok()

    assert wrong["errors"] == [{"code": "INVALID", "field": ["amount", "currencyCode"]}]
    assert nothing["errors"] == [{"code": "INVALID", "field": ["amount"]}]
    assert unknown["chargeRefund"]["errors"] == [{"code": "NOT_FOUND", "field": ["chargeId"]}]


async def test_finance_reads_a_partners_entries_and_balance(
    world: World, gql: GraphQLClient
) -> None:
    # Given a partner that earned 10.00 at 70 % and was refunded 2.00 of it
    earner = await make_earner(world)
    year = next_year()
    charge = await earn(earner, 1000, "NOK", moment(year, 3))
    finance = (await world.user("finance", domain="platform"))[1]
    await _refund(gql, finance, charge, "2.00", uuid.uuid4().hex)
    partner = gid("Partner", earner.partner_id)

    # When finance reads the partner's entries and accounts
    found = (await gql(ENTRIES, {"f": {"partnerId": partner}, "n": 10}, token=finance)).ok()
    accounts = await gql(
        "query($p: ID!) { ledgerAccounts(filter: {partnerId: $p}) { nodes { key kind balance { amount currencyCode } } } }",
        {"p": partner},
        token=finance,
    )

    # Then the payable shows the collection and the refund, newest first
    assert [
        (n["kind"], n["amount"]["amount"], n["gross"]["amount"], n["shareBps"])
        for n in found["ledgerEntries"]["nodes"]
    ] == [
        ("REFUND", "1.40", "-2.00", 7000),
        ("COLLECTION", "-7.00", "10.00", 7000),
    ]
    assert found["ledgerEntries"]["nodes"][1]["source"] == f"collection:charge:{charge}"
    # And the payable's balance is what the partner is owed: 5.60, a credit
    assert accounts.ok()["ledgerAccounts"]["nodes"] == [
        {
            "key": f"partner_payable:{earner.partner_id}:NOK",
            "kind": "PARTNER_PAYABLE",
            "balance": {"amount": "-5.60", "currencyCode": "NOK"},
        }
    ]


async def test_entry_filters_by_kind_time_and_account(world: World, gql: GraphQLClient) -> None:
    earner = await make_earner(world)
    year = next_year()
    march = await earn(earner, 500, "NOK", moment(year, 3))
    april = await earn(earner, 500, "NOK", moment(year, 4))
    finance = (await world.user("finance", domain="platform"))[1]
    accounts = await gql(
        '{ ledgerAccounts(filter: {kind: CASH, currency: "NOK"}) { nodes { id key } } }',
        token=finance,
    )
    [cash] = accounts.ok()["ledgerAccounts"]["nodes"]
    window = {
        "occurredFrom": f"{year}-04-01T00:00:00Z",
        "occurredTo": f"{year}-05-01T00:00:00+00:00",
    }

    april_cash = await gql(
        ENTRIES, {"f": {"account": cash["id"], "kind": "COLLECTION", **window}}, token=finance
    )
    naive = await gql(ENTRIES, {"f": {"occurredFrom": f"{year}-04-01T00:00:00"}}, token=finance)

    assert cash["key"] == "cash:NOK"
    assert [n["chargeId"] for n in april_cash.ok()["ledgerEntries"]["nodes"]] == [
        gid("Charge", april)
    ]
    assert march != april
    assert naive.codes == ["BAD_USER_INPUT"]


async def test_a_page_of_entries_costs_the_same_statements_at_any_size(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    earner = await make_earner(world)
    year = next_year()
    for month in range(1, 7):
        await earn(earner, 300, "NOK", moment(year, month))
    finance = (await world.user("finance", domain="platform"))[1]
    wanted = {"f": {"partnerId": gid("Partner", earner.partner_id)}}

    counts = []
    for size in (1, 6):
        statements.reset()
        page = (await gql(ENTRIES, {**wanted, "n": size}, token=finance)).ok()
        assert len(page["ledgerEntries"]["nodes"]) == size
        counts.append(statements.count)

    assert counts[0] == counts[1]


async def test_entries_page_with_cursors(world: World, gql: GraphQLClient) -> None:
    earner = await make_earner(world)
    year = next_year()
    for month in (1, 2, 3):
        await earn(earner, 300, "NOK", moment(year, month))
    finance = (await world.user("finance", domain="platform"))[1]
    wanted = {"partnerId": gid("Partner", earner.partner_id)}

    first = (await gql(ENTRIES, {"f": wanted, "n": 2}, token=finance)).ok()["ledgerEntries"]
    after = first["pageInfo"]["endCursor"]
    rest = (await gql(ENTRIES, {"f": wanted, "n": 2, "after": after}, token=finance)).ok()

    assert first["pageInfo"]["hasNextPage"] is True
    assert len(rest["ledgerEntries"]["nodes"]) == 1
    assert rest["ledgerEntries"]["pageInfo"]["hasNextPage"] is False
