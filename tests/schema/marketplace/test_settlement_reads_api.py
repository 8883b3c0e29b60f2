"""Reading settlement through HTTP: runs page by period, a run's statements come with their
partners and lines in the same number of statements at any page size, and a partner's owner
reads its earnings for a month. Money here is in THB, in years of its own."""

from __future__ import annotations

import pytest

from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.ledger import approve, earn, make_earner, moment, next_year, refund, settle
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

CURRENCY = "THB"
RUN = """query($r: ID!, $n: Int) { settlementRun(id: $r) { period currency status
  statements(first: $n) { nodes { period partner { id name tier } netPayable { amount }
    lines(first: 5) { nodes { kind chargeId gross { amount } } pageInfo { hasNextPage } } }
    pageInfo { hasNextPage } } } }"""


async def test_a_runs_statements_cost_the_same_statements_at_any_page_size(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    # Given a run with three partners, one of them with seven lines
    year = next_year()
    earners = [await make_earner(world) for _ in range(3)]
    for day in range(1, 8):
        await earn(earners[0], 100 * day, CURRENCY, moment(year, 2, day))
    for earner in earners[1:]:
        await earn(earner, 1000, CURRENCY, moment(year, 2, 10))
    run = await settle(world, f"{year}-02", CURRENCY)
    finance = (await world.user("finance", domain="platform"))[1]

    # When finance reads it a statement at a time, and then all at once (after a first read
    # that warms the per-process caches)
    await gql(RUN, {"r": gid("SettlementRun", run.id), "n": 1}, token=finance)
    counts, pages = [], []
    for size in (1, 3):
        statements.reset()
        pages.append(
            (await gql(RUN, {"r": gid("SettlementRun", run.id), "n": size}, token=finance)).ok()
        )
        counts.append(statements.count)

    # Then both cost the same, and the lines are paged per statement
    assert counts[0] == counts[1]
    found = pages[1]["settlementRun"]["statements"]
    assert [len(s["lines"]["nodes"]) for s in found["nodes"]] == [5, 1, 1]
    assert [s["lines"]["pageInfo"]["hasNextPage"] for s in found["nodes"]] == [True, False, False]
    assert {s["partner"]["id"] for s in found["nodes"]} == {
        gid("Partner", e.partner_id) for e in earners
    }
    assert {s["period"] for s in found["nodes"]} == {f"{year}-02"}
    assert pages[0]["settlementRun"]["statements"]["pageInfo"]["hasNextPage"] is True


async def test_a_statements_lines_page_with_cursors(world: World, gql: GraphQLClient) -> None:
    year = next_year()
    earner = await make_earner(world)
    for day in range(1, 5):
        await earn(earner, 100 * day, CURRENCY, moment(year, 3, day))
    run = await settle(world, f"{year}-03", CURRENCY)
    finance = (await world.user("finance", domain="platform"))[1]
    query = """query($p: ID!, $after: String) { partnerStatements(partnerId: $p) { nodes {
      lines(first: 3, after: $after) { nodes { gross { amount } } pageInfo { endCursor hasNextPage } } } } }"""
    partner = gid("Partner", earner.partner_id)

    first = (await gql(query, {"p": partner}, token=finance)).ok()
    [statement] = first["partnerStatements"]["nodes"]
    cursor = statement["lines"]["pageInfo"]["endCursor"]
    rest = (await gql(query, {"p": partner, "after": cursor}, token=finance)).ok()

    assert [n["gross"]["amount"] for n in statement["lines"]["nodes"]] == ["1.00", "2.00", "3.00"]
    [more] = rest["partnerStatements"]["nodes"]
    assert [n["gross"]["amount"] for n in more["lines"]["nodes"]] == ["4.00"]
    assert run.currency == CURRENCY


async def test_runs_are_listed_latest_period_first(world: World, gql: GraphQLClient) -> None:
    year = next_year()
    older = await settle(world, f"{year}-01", CURRENCY)
    newer = await settle(world, f"{year}-02", CURRENCY)
    finance = (await world.user("finance", domain="platform"))[1]
    query = """query($after: String) { settlementRuns(currency: "THB", first: 1, after: $after) {
      nodes { id period } pageInfo { endCursor hasNextPage } } }"""

    first = (await gql(query, token=finance)).ok()["settlementRuns"]
    second = (await gql(query, {"after": first["pageInfo"]["endCursor"]}, token=finance)).ok()

    assert [n["id"] for n in first["nodes"]] == [gid("SettlementRun", newer.id)]
    assert [n["id"] for n in second["settlementRuns"]["nodes"]] == [gid("SettlementRun", older.id)]


async def test_an_owner_reads_its_earnings_for_a_month(world: World, gql: GraphQLClient) -> None:
    # Given 10.00 and 20.00 earned in April at 70 %, 5.00 of the first refunded, April settled
    year = next_year()
    earner = await make_earner(world)
    first = await earn(earner, 1000, CURRENCY, moment(year, 4, 2))
    await earn(earner, 2000, CURRENCY, moment(year, 4, 9))
    await refund(world, first, 500, moment(year, 4, 20))
    run = await approve(world, (await settle(world, f"{year}-04", CURRENCY)).id)
    query = """query($p: ID!, $m: String!) { partnerEarnings(partnerId: $p, period: $m) {
      currency gross { amount } partnerAmount { amount } fees { amount } refunds { amount }
      net { amount } statementId } }"""
    partner = gid("Partner", earner.partner_id)

    april = (await gql(query, {"p": partner, "m": f"{year}-04"}, token=earner.owner_token)).ok()
    may = (await gql(query, {"p": partner, "m": f"{year}-05"}, token=earner.owner_token)).ok()
    bad = await gql(query, {"p": partner, "m": "April"}, token=earner.owner_token)

    [earned] = april["partnerEarnings"]
    assert earned["currency"] == CURRENCY and earned["statementId"] is not None
    assert [earned[k]["amount"] for k in ("gross", "partnerAmount", "fees", "refunds", "net")] == [
        "30.00",
        "21.00",
        "9.00",
        "3.50",
        "17.50",
    ]
    assert may["partnerEarnings"] == []
    assert bad.codes == ["BAD_USER_INPUT"]
    assert run.currency == CURRENCY


async def test_partner_statements_and_earnings_are_for_its_owner_not_its_developers(
    world: World, gql: GraphQLClient
) -> None:
    # Given a partner with 10.00 earned in June at 70 %, June settled, and a developer member
    year = next_year()
    earner = await make_earner(world)
    await earn(earner, 1000, CURRENCY, moment(year, 6, 3))
    await settle(world, f"{year}-06", CURRENCY)
    developer = (await world.user("developer", domain=f"partner:{earner.partner_id}"))[1]
    query = """query($p: ID!, $m: String!) { partner(partnerId: $p) { name
      statements(first: 5) { nodes { period netPayable { amount } } }
      earnings(period: $m) { currency partnerAmount { amount } } } }"""
    asked = {"p": gid("Partner", earner.partner_id), "m": f"{year}-06"}

    # When its owner and its developer read the partner with its money
    own = (await gql(query, asked, token=earner.owner_token)).ok()["partner"]
    seen_by_developer = await gql(query, asked, token=developer)

    # Then the owner sees June; the developer sees the partner but neither money field
    assert own["statements"]["nodes"] == [
        {"period": f"{year}-06", "netPayable": {"amount": "7.00"}}
    ]
    assert own["earnings"] == [{"currency": CURRENCY, "partnerAmount": {"amount": "7.00"}}]
    assert seen_by_developer.codes == ["FORBIDDEN"]  # the first refusal nulls the partner
    assert seen_by_developer.data == {"partner": None}
    earnings_only = query.replace(
        "statements(first: 5) { nodes { period netPayable { amount } } }", ""
    )
    assert (await gql(earnings_only, asked, token=developer)).codes == ["FORBIDDEN"]
