"""Settlement through HTTP (acceptance 4 and 5): maker-checker with every step audited, a partner
seeing only its own statements and CSVs, a tampered row found by ``verify``, and the what-if
simulation of the worked example, which leaves the ledger as it was."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text

from app.security.audit import AuditEvent
from marketplace.settlement_models import RunStatus
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.ledger import entry_count, statement_of
from tests.support.worked_example import WorkedExample, build_worked_example

pytestmark = pytest.mark.anyio

CREATE = """mutation($p: String!, $c: String!, $k: String!) {
  settlementRunCreate(period: $p, currency: $c, idempotencyKey: $k) {
    run { id period currency status createdBy } replayed errors { code field } } }"""
APPROVE = """mutation($r: ID!) { settlementRunApprove(runId: $r) {
  run { id status approvedBy } errors { code } } }"""
RUN = """query($r: ID!) { settlementRun(id: $r) { period status statements(first: 10) { nodes {
  id partnerId hash previousHash netPayable { amount currencyCode } clawbacks { amount }
  csvPath verify { valid checked brokenStatementId reason }
  lines(first: 10) { nodes { kind shareBps partnerAmount { amount } originalStatementId } } } } } }"""
PARTNER_STATEMENTS = """query($p: ID!) { partnerStatements(partnerId: $p, first: 10) {
  nodes { id period netPayable { amount } } } }"""


async def _finance(world: World) -> str:
    return (await world.user("finance", domain="platform"))[1]


async def _december(gql: GraphQLClient, example: WorkedExample, token: str) -> dict[str, Any]:
    variables = {"p": example.december, "c": "CNY", "k": uuid.uuid4().hex}
    payload = (await gql(CREATE, variables, token=token)).ok()["settlementRunCreate"]
    assert payload["errors"] == [], payload
    return payload["run"]  # type: ignore[no-any-return]


async def _audit(world: World, action: str) -> list[AuditEvent]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return list(rows)


async def test_a_run_needs_a_second_finance_user_and_every_step_is_audited(
    world: World, gql: GraphQLClient
) -> None:
    # Given the worked example and two finance users
    example = await build_worked_example(world)
    maker, checker = await _finance(world), await _finance(world)

    # When the maker creates December's run and then tries to approve it herself
    run = await _december(gql, example, maker)
    refused = (await gql(APPROVE, {"r": run["id"]}, token=maker)).ok()["settlementRunApprove"]

    # Then she is refused, and the run stays a draft
    assert refused == {"run": None, "errors": [{"code": "SEPARATION_OF_DUTIES"}]}
    assert run["status"] == "DRAFT"

    # When the checker approves it, twice
    approved = (await gql(APPROVE, {"r": run["id"]}, token=checker)).ok()["settlementRunApprove"]
    again = (await gql(APPROVE, {"r": run["id"]}, token=checker)).ok()["settlementRunApprove"]

    # Then it is approved once, by the checker
    assert approved["run"]["status"] == again["run"]["status"] == "APPROVED"
    assert approved["run"]["approvedBy"] == again["run"]["approvedBy"] != run["createdBy"]
    # And both steps are in the audit trail, on the platform, with the run's state
    created = [e for e in await _audit(world, "settlementRunCreate") if e.target_id == run["id"]]
    approvals = [e for e in await _audit(world, "settlementRunApprove") if e.target_id == run["id"]]
    assert [(e.outcome.value, e.domain, e.actor) for e in created] == [
        ("allowed", "platform", run["createdBy"])
    ]
    assert [e.outcome.value for e in approvals] == ["allowed", "allowed"]
    assert (approvals[0].before["status"], approvals[0].after["status"]) == ("draft", "approved")


async def test_only_finance_may_create_or_approve(world: World, gql: GraphQLClient) -> None:
    example = await build_worked_example(world)
    admin = (await world.user("community_admin", domain="platform"))[1]
    variables = {"p": example.december, "c": "CNY", "k": uuid.uuid4().hex}

    for token in (example.owner_token, admin, None):
        assert (await gql(CREATE, variables, token=token)).codes == ["FORBIDDEN"]
    run_id = gid("SettlementRun", example.november_run.id)
    assert (await gql(APPROVE, {"r": run_id}, token=admin)).codes == ["FORBIDDEN"]
    denied = await _audit(world, "settlementRunApprove")
    assert denied[-1].outcome.value == "denied"


async def test_the_same_period_twice_gives_the_first_run(world: World, gql: GraphQLClient) -> None:
    example = await build_worked_example(world)
    finance = await _finance(world)
    key = uuid.uuid4().hex
    variables = {"p": example.december, "c": "CNY", "k": key}

    first = (await gql(CREATE, variables, token=finance)).ok()["settlementRunCreate"]
    replay = (await gql(CREATE, variables, token=finance)).ok()["settlementRunCreate"]
    other_key = {**variables, "k": uuid.uuid4().hex}
    second = (await gql(CREATE, other_key, token=finance)).ok()["settlementRunCreate"]
    conflict = {**variables, "p": f"{example.year + 1}-01"}
    refused = (await gql(CREATE, conflict, token=finance)).ok()["settlementRunCreate"]

    assert first["run"]["id"] == replay["run"]["id"] == second["run"]["id"]
    assert (first["replayed"], replay["replayed"], second["replayed"]) == (False, True, False)
    assert refused["errors"] == [{"code": "IDEMPOTENCY_CONFLICT", "field": ["idempotencyKey"]}]


async def test_a_malformed_period_is_refused_in_the_payload(
    world: World, gql: GraphQLClient
) -> None:
    finance = await _finance(world)
    variables = {"p": "2031-13", "c": "CNY", "k": uuid.uuid4().hex}

    payload = (await gql(CREATE, variables, token=finance)).ok()["settlementRunCreate"]

    assert payload["errors"] == [{"code": "INVALID", "field": ["period"]}]


async def test_a_run_shows_its_statements_lines_and_chain(world: World, gql: GraphQLClient) -> None:
    example = await build_worked_example(world)
    finance, checker = await _finance(world), await _finance(world)
    run = await _december(gql, example, finance)
    await gql(APPROVE, {"r": run["id"]}, token=checker)

    found = (await gql(RUN, {"r": run["id"]}, token=finance)).ok()["settlementRun"]

    [statement] = found["statements"]["nodes"]
    assert statement["netPayable"] == {"amount": "78.01", "currencyCode": "CNY"}
    assert statement["clawbacks"] == {"amount": "6.99"}
    assert statement["verify"] == {
        "valid": True,
        "checked": 2,
        "brokenStatementId": None,
        "reason": "",
    }
    nov = await statement_of(world, example.november_run.id, example.partner_id)
    assert nov is not None
    november = gid("Statement", nov.id)
    assert statement["previousHash"] == nov.hash
    assert [
        (
            line["kind"],
            line["shareBps"],
            line["partnerAmount"]["amount"],
            line["originalStatementId"],
        )
        for line in statement["lines"]["nodes"]
    ] == [
        ("CHARGE", 8500, "85.00", None),
        ("CLAWBACK", 7000, "-6.99", november),
    ]


async def test_a_tampered_statement_line_makes_verify_fail(
    world: World, gql: GraphQLClient
) -> None:
    # Given November frozen, and someone who edits one of its lines behind the API's back
    example = await build_worked_example(world)
    finance = await _finance(world)
    nov = await statement_of(world, example.november_run.id, example.partner_id)
    assert nov is not None
    async with world.services.db.writer() as session, session.begin():
        await session.execute(
            text(
                "UPDATE statement_lines SET partner_amount = partner_amount + 100 WHERE id = (SELECT MIN(id) FROM statement_lines WHERE statement_id = :s)"
            ),
            {"s": nov.id},
        )

    # When finance, and the partner's owner, verify the partner's statements
    verify = """query($p: ID!) { partnerStatements(partnerId: $p) { nodes {
      verify { valid brokenStatementId reason } } } }"""
    partner = {"p": gid("Partner", example.partner_id)}
    found = (await gql(verify, partner, token=finance)).ok()
    by_owner = (await gql(verify, partner, token=example.owner_token)).ok()

    # Then the chain breaks at November
    [checked] = found["partnerStatements"]["nodes"]
    assert checked["verify"] == {
        "valid": False,
        "brokenStatementId": gid("Statement", nov.id),
        "reason": "contents do not match the hash",
    }
    assert by_owner == found


async def test_a_partner_sees_only_its_own_statements_and_csvs(
    world: World, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    # Given two partners' statements, both frozen
    mine = await build_worked_example(world)
    theirs = await build_worked_example(world)
    finance = await _finance(world)
    mine_statement = await statement_of(world, mine.november_run.id, mine.partner_id)
    their_statement = await statement_of(world, theirs.november_run.id, theirs.partner_id)
    assert mine_statement is not None and their_statement is not None

    # When my owner lists statements
    own = await gql(
        PARTNER_STATEMENTS, {"p": gid("Partner", mine.partner_id)}, token=mine.owner_token
    )
    other = await gql(
        PARTNER_STATEMENTS, {"p": gid("Partner", theirs.partner_id)}, token=mine.owner_token
    )
    by_finance = await gql(
        PARTNER_STATEMENTS, {"p": gid("Partner", theirs.partner_id)}, token=finance
    )

    # Then it sees its own, not the other partner's; finance sees both
    assert [n["netPayable"]["amount"] for n in own.ok()["partnerStatements"]["nodes"]] == ["20.97"]
    assert other.codes == ["FORBIDDEN"]
    assert [n["period"] for n in by_finance.ok()["partnerStatements"]["nodes"]] == [theirs.november]

    # And the same holds for the CSV downloads
    def get(statement_id: int, token: str | None) -> Any:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        return http.get(f"/exports/statements/{statement_id}.csv", headers=headers)

    own_csv = await get(mine_statement.id, mine.owner_token)
    assert own_csv.status_code == 200, own_csv.text
    assert own_csv.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(own_csv.text)))
    assert [(r["kind"], r["partner_amount"]) for r in rows[:3]] == [("charge", "6.99")] * 3
    assert rows[-1] == {**rows[-1], "kind": "net_payable", "partner_amount": "20.97"}
    assert (await get(their_statement.id, mine.owner_token)).status_code == 403
    assert (await get(their_statement.id, finance)).status_code == 200
    assert (await get(their_statement.id, None)).status_code == 401
    assert (await get(10**12, finance)).status_code == 404
    assert (await get(10**12, mine.owner_token)).status_code == 403
    denied = await _audit(world, "statementCsv")
    assert denied[-1].outcome.value == "denied" and denied[-1].domain == "platform"


async def test_simulating_the_worked_example_at_80_percent_changes_nothing(
    world: World, gql: GraphQLClient
) -> None:
    # Given the worked example, and a community admin pricing a standard share of 80 %
    example = await build_worked_example(world)
    admin = (await world.user("community_admin", domain="platform"))[1]
    query = """query($p: String!) { settlementSimulate(period: $p, currency: "CNY",
      shareOverrides: [{tier: STANDARD, shareBps: 8000}]) { period currency partners {
        partnerId actualPartnerAmount { amount } simulatedPartnerAmount { amount }
        actualFees { amount } simulatedFees { amount } actualNet { amount } simulatedNet { amount } } } }"""
    before = await entry_count(world.services.db)

    # When November is simulated
    found = (await gql(query, {"p": example.november}, token=admin)).ok()["settlementSimulate"]

    # Then the partner would get 23.97 instead of 20.97
    [partner] = [
        p for p in found["partners"] if p["partnerId"] == gid("Partner", example.partner_id)
    ]
    assert partner == {
        "partnerId": gid("Partner", example.partner_id),
        "actualPartnerAmount": {"amount": "20.97"},
        "simulatedPartnerAmount": {"amount": "23.97"},
        "actualFees": {"amount": "9.00"},
        "simulatedFees": {"amount": "6.00"},
        "actualNet": {"amount": "20.97"},
        "simulatedNet": {"amount": "23.97"},
    }
    # And the ledger is as it was, as is the November statement
    assert await entry_count(world.services.db) == before
    nov = await statement_of(world, example.november_run.id, example.partner_id)
    assert nov is not None and nov.partner_amount == 2097
    assert example.november_run.status is RunStatus.APPROVED
