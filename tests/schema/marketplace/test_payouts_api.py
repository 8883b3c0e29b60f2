"""Payouts through the front door: GraphQL as finance and partner owners, Stripe's webhooks at
``/webhooks/stripe``, on an app wired to the project's Stripe Connect test server.

Only finance pays, only the owner makes the payout account, every attempt is audited; a
Stripe error is named per statement and paid once after the fix; a timeout is settled by paying
again or by the ``transfer.created`` webhook; a webhook that is not Stripe's changes nothing.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from app.config import Settings
from app.main import create_app
from app.security.audit import AuditEvent
from tests.support.clock import MutableClock
from tests.support.factories import World, gid, make_world
from tests.support.graphql import GraphQLClient
from tests.support.localstripe import sign_stripe_event
from tests.support.marketplace import make_partner, member
from tests.support.payouts import (
    Run,
    approved_run,
    payable_balance,
    payouts_of,
    postings,
    statuses,
    unbalanced,
)
from tests.support.served import serve_app
from tests.support.stripe_connect import API_KEY, ConnectServer, start_stripe_connect

pytestmark = pytest.mark.anyio

PAY = """mutation($r: ID!) { settlementRunPay(runId: $r) {
  settlementRunId status errors { field code message }
  payouts { id statementId attempt status stripeTransferId failureReason amount { amount } } } }"""
ACCOUNT = """mutation($p: ID!) { partnerPayoutAccountCreate(partnerId: $p) {
  payoutAccount { partnerId stripeAccountId } created errors { code } } }"""
PAYOUTS = "query($r: ID!) { settlementRunPayouts(runId: $r) { statementId attempt status } }"
READ_ACCOUNT = "query($p: ID!) { partnerPayoutAccount(partnerId: $p) { stripeAccountId } }"


@pytest.fixture(scope="session")
async def connect() -> AsyncIterator[ConnectServer]:
    async with start_stripe_connect() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_faults(connect: ConnectServer) -> None:
    connect.reset()


@pytest.fixture(scope="session")
def payout_secret() -> str:
    return f"whsec_{secrets.token_hex(16)}"


@pytest.fixture(scope="session")
async def payout_app(
    settings: Settings,
    migrated: str,
    clock: MutableClock,
    connect: ConnectServer,
    payout_secret: str,
) -> AsyncIterator[Starlette]:
    """Agora with Stripe at the Connect test server, on the suite's database and clock."""
    configured = settings.model_copy(
        update={
            "stripe_api_key": API_KEY,
            "stripe_api_base": connect.base_url,
            "stripe_webhook_secret": payout_secret,
            "stripe_timeout_seconds": 1.0,
        }
    )
    application = create_app(configured, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def pgql(payout_app: Starlette) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=payout_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


@pytest.fixture
async def pworld(payout_app: Starlette) -> World:
    return await make_world(payout_app)


async def _finance(world: World) -> str:
    return (await world.user("finance", domain="platform"))[1]


async def _run_with_accounts(world: World, gql: GraphQLClient, *grosses: int) -> Run:
    run = await approved_run(world, grosses)
    for partner, owner in zip(run.partners, run.owners, strict=True):
        made = (await gql(ACCOUNT, {"p": gid("Partner", partner)}, token=owner)).ok()
        assert made["partnerPayoutAccountCreate"]["errors"] == []
    return run


async def _pay(gql: GraphQLClient, run: Run, token: str, request_id: str = "") -> Any:
    headers = {"x-request-id": request_id} if request_id else None
    result = await gql(PAY, {"r": gid("SettlementRun", run.id)}, token=token, headers=headers)
    return result.ok()["settlementRunPay"]


async def _audits(world: World, request_id: str) -> list[AuditEvent]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(select(AuditEvent).where(AuditEvent.request_id == request_id))
        return list(rows)


def _live(connect: ConnectServer, run: Run) -> list[dict[str, Any]]:
    return [t for t in connect.transfers_in(run.group) if not t["reversed"]]


async def test_only_finance_may_pay_and_every_attempt_is_audited(
    pworld: World, pgql: GraphQLClient, connect: ConnectServer
) -> None:
    run = await _run_with_accounts(pworld, pgql, 1000, 0)
    developer = (await member(pworld, run.partners[0], "developer"))[1]
    others = {
        "owner": run.owners[0],
        "developer": developer,
        "ops": (await pworld.user("ops", domain="platform"))[1],
        "community_admin": (await pworld.user("community_admin", domain="platform"))[1],
        "business": (await pworld.user("business"))[1],
    }
    for who, token in others.items():
        request_id = f"pay-{uuid.uuid4().hex[:12]}"
        result = await pgql(
            PAY,
            {"r": gid("SettlementRun", run.id)},
            token=token,
            headers={"x-request-id": request_id},
        )
        assert result.codes == ["FORBIDDEN"], who
        assert [a.outcome.value for a in await _audits(pworld, request_id)] == ["denied"], who
    assert connect.transfers_in(run.group) == []
    request_id = f"pay-{uuid.uuid4().hex[:12]}"
    paid = await _pay(pgql, run, await _finance(pworld), request_id)
    assert (paid["errors"], paid["status"]) == ([], "PAID")
    [payout] = paid["payouts"]
    assert (payout["status"], payout["amount"]["amount"]) == ("PAID", "7.00")
    assert [t["id"] for t in _live(connect, run)] == [payout["stripeTransferId"]]
    [audit] = await _audits(pworld, request_id)
    assert (audit.outcome.value, audit.action, audit.domain) == (
        "allowed",
        "settlementRunPay",
        "platform",
    )
    assert (audit.target_type, audit.target_id) == ("SettlementRun", gid("SettlementRun", run.id))
    assert audit.before["run"]["status"] == "approved"
    assert [p["status"] for p in audit.after["payouts"]] == ["pending"]  # written before Stripe


async def test_the_owner_makes_the_payout_account_once(
    pworld: World, pgql: GraphQLClient, connect: ConnectServer
) -> None:
    partner, owner = await make_partner(pworld)
    other_owner = (await make_partner(pworld))[1]
    variables = {"p": gid("Partner", partner)}
    for token in (
        other_owner,
        await _finance(pworld),
        (await member(pworld, partner, "developer"))[1],
    ):
        assert (await pgql(ACCOUNT, variables, token=token)).codes == ["FORBIDDEN"]
    request_ids = [f"acct-{uuid.uuid4().hex[:12]}" for _ in range(2)]
    made = [
        (await pgql(ACCOUNT, variables, token=owner, headers={"x-request-id": r})).ok()[
            "partnerPayoutAccountCreate"
        ]
        for r in request_ids
    ]
    assert [m["created"] for m in made] == [True, False]
    account = made[0]["payoutAccount"]["stripeAccountId"]
    assert made[1]["payoutAccount"]["stripeAccountId"] == account
    assert connect.accounts[account]["metadata"] == {"agora_partner": str(partner)}
    assert connect.accounts[account]["capabilities"] == {"transfers": "active"}
    for request_id in request_ids:
        [audit] = await _audits(pworld, request_id)
        assert (audit.outcome.value, audit.domain) == ("allowed", f"partner:{partner}")
        assert audit.after["stripe_account_id"] == account
    read = (await pgql(READ_ACCOUNT, variables, token=owner)).ok()
    assert read["partnerPayoutAccount"] == {"stripeAccountId": account}


async def test_a_stripe_error_names_the_statement_and_paying_again_pays_it_once(
    pworld: World, pgql: GraphQLClient, connect: ConnectServer
) -> None:
    run = await _run_with_accounts(pworld, pgql, 1000, 2000)
    finance = await _finance(pworld)
    connect.fail(1, status=400, code="account_invalid", message="The destination is not ready.")
    first = await _pay(pgql, run, finance)
    assert first["status"] == "APPROVED"
    assert first["errors"] == [
        {
            "field": ["statements", gid("Statement", run.statements[0])],
            "code": "PAYOUT_FAILED",
            "message": "account_invalid: The destination is not ready.",
        }
    ]
    assert [p["status"] for p in first["payouts"]] == ["FAILED", "PAID"]
    second = await _pay(pgql, run, finance)
    assert (second["errors"], second["status"]) == ([], "PAID")
    assert len(_live(connect, run)) == 2
    listed = (await pgql(PAYOUTS, {"r": gid("SettlementRun", run.id)}, token=finance)).ok()
    assert [(p["attempt"], p["status"]) for p in listed["settlementRunPayouts"]] == [
        (1, "FAILED"),
        (2, "PAID"),
        (1, "PAID"),
    ]
    assert await unbalanced(pworld) == []


async def test_a_timeout_is_settled_by_paying_again(
    pworld: World, pgql: GraphQLClient, connect: ConnectServer
) -> None:
    run = await _run_with_accounts(pworld, pgql, 4000)
    finance = await _finance(pworld)
    connect.time_out(1, times=2)
    first = await _pay(pgql, run, finance)
    assert [e["code"] for e in first["errors"]] == ["PAYOUT_PENDING"]
    second = await _pay(pgql, run, finance)
    assert (second["errors"], second["status"]) == ([], "PAID")
    assert len(connect.transfers_in(run.group)) == 1
    [payout] = await payouts_of(pworld, run.id)
    assert await postings(pworld, f"payout:{payout.id}") == 1
    assert await payable_balance(pworld, run.partners[0]) == 0


def _signed(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "stripe-signature": sign_stripe_event(body, secret, timestamp),
    }


async def test_transfer_webhooks_are_verified_and_update_payouts(
    pworld: World,
    pgql: GraphQLClient,
    connect: ConnectServer,
    payout_app: Starlette,
    payout_secret: str,
) -> None:
    run = await _run_with_accounts(pworld, pgql, 3000)
    finance = await _finance(pworld)
    connect.time_out(1, times=2)
    await _pay(pgql, run, finance)  # Stripe made the transfer; Agora never heard
    [made] = connect.transfers_in(run.group)
    created = connect.event("transfer.created", made["id"])
    altered = created.replace(b'"livemode": false', b'"livemode": true')
    refused = [
        (created, {"content-type": "application/json"}),  # unsigned
        (created, _signed(created, "whsec_someone_else")),
        (created, _signed(created, payout_secret, int(time.time()) - 3600)),  # stale
        (altered, _signed(created, payout_secret)),
    ]
    http = pgql.http
    for body, headers in refused:
        answer = await http.post("/webhooks/stripe", content=body, headers=headers)
        assert answer.status_code == 400, answer.text
    assert await statuses(pworld, run) == ("approved", ["pending"])
    async with serve_app(payout_app) as base:  # delivered as Stripe does, over HTTP
        delivered = await connect.deliver(f"{base}/webhooks/stripe", created, payout_secret)
        again = await connect.deliver(f"{base}/webhooks/stripe", created, payout_secret)
    assert delivered.json() == {"received": True, "duplicate": False, "changed": True}
    assert again.json() == {"received": True, "duplicate": True}
    assert await statuses(pworld, run) == ("paid", ["paid"])
    payouts = (await pgql(PAYOUTS, {"r": gid("SettlementRun", run.id)}, token=finance)).ok()
    assert payouts["settlementRunPayouts"] == [
        {"statementId": gid("Statement", run.statements[0]), "attempt": 1, "status": "PAID"}
    ]
    async with httpx.AsyncClient(base_url=connect.base_url, trust_env=False) as stripe_http:
        reversed_ = await stripe_http.post(
            f"/v1/transfers/{made['id']}/reversals", headers={"Authorization": f"Bearer {API_KEY}"}
        )
    assert reversed_.status_code == 200
    reversal = connect.event("transfer.reversed", made["id"])
    answer = await http.post(
        "/webhooks/stripe", content=reversal, headers=_signed(reversal, payout_secret)
    )
    assert answer.json()["changed"] is True
    assert await statuses(pworld, run) == ("approved", ["failed"])
    assert await payable_balance(pworld, run.partners[0]) == -run.nets[0]
    repaid = await _pay(pgql, run, finance)
    assert (repaid["errors"], repaid["status"]) == ([], "PAID")
    assert [p["attempt"] for p in repaid["payouts"]] == [1, 2]
    assert len(_live(connect, run)) == 1
    assert await payable_balance(pworld, run.partners[0]) == 0
    assert await unbalanced(pworld) == []


async def test_without_stripe_payouts_are_refused(
    pworld: World, pgql: GraphQLClient, payout_app: Starlette
) -> None:
    run = await approved_run(pworld, [1000])
    services = payout_app.state.services
    payout_app.state.services = dataclasses.replace(
        services, marketplace=dataclasses.replace(services.marketplace, transfers=None)
    )
    try:
        paid = await _pay(pgql, run, await _finance(pworld))
        made = (
            await pgql(ACCOUNT, {"p": gid("Partner", run.partners[0])}, token=run.owners[0])
        ).ok()
    finally:
        payout_app.state.services = services
    assert [e["code"] for e in paid["errors"]] == ["PAYOUTS_NOT_CONFIGURED"]
    assert [e["code"] for e in made["partnerPayoutAccountCreate"]["errors"]] == [
        "PAYOUTS_NOT_CONFIGURED"
    ]
