"""Paying settlement runs through Stripe Connect, against the project's Stripe test server with
the real SDK built as the app builds it (one network retry, a short timeout).

The faults of acceptance point 3: a timeout after Stripe made the transfer, the same after
Stripe forgot the key, a Stripe error on one statement, and a crash between Stripe's answer
and the commit. Every scenario ends with exactly one transfer per paid statement, each payout
posted to the ledger once, and a balanced ledger.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import anyio
import pytest
from sqlalchemy import select, update

from app.errors import DomainError
from app.trade.stripe_payments import stripe_client
from marketplace.errors import MarketplaceErrorCode
from marketplace.payout_accounts import create_payout_account
from marketplace.payout_models import PartnerPayoutAccount, Payout
from marketplace.payout_records import apply_transfer_event
from marketplace.payouts import PayRunResult, pay_run
from marketplace.services import MarketplaceServices
from marketplace.settlement_models import PayoutStatus, RunStatus
from marketplace.transfers import StripeTransfers, Transfer, TransferRequest, transfer_of
from tests.support.factories import World
from tests.support.payouts import (
    Run,
    approved_run,
    payable_balance,
    payouts_of,
    postings,
    statuses,
    unbalanced,
)
from tests.support.stripe_connect import API_KEY, DAY, ConnectServer, start_stripe_connect

pytestmark = pytest.mark.anyio

PAID, FAILED, PENDING, NONE = (
    PayoutStatus.PAID,
    PayoutStatus.FAILED,
    PayoutStatus.PENDING,
    PayoutStatus.NONE,
)


@pytest.fixture
async def server() -> AsyncIterator[ConnectServer]:
    async with start_stripe_connect() as running:
        yield running


@pytest.fixture
async def gateway(server: ConnectServer) -> AsyncIterator[StripeTransfers]:
    transfers = StripeTransfers(stripe_client(API_KEY, server.base_url, timeout=1.0))
    yield transfers
    await transfers.close()


@pytest.fixture
def services(world: World) -> MarketplaceServices:
    return world.services.marketplace  # type: ignore[no-any-return]


class CrashAfterTransfer:
    """Stripe answers, then the process dies before the answer is committed."""

    def __init__(self, inner: StripeTransfers) -> None:
        self.inner = inner

    async def create_account(self, partner_id: int, idempotency_key: str) -> str:
        return await self.inner.create_account(partner_id, idempotency_key)

    async def create_transfer(self, request: TransferRequest) -> Transfer:
        await self.inner.create_transfer(request)
        raise RuntimeError("crashed after Stripe answered")

    async def find_transfers(self, transfer_group: str) -> list[Transfer]:
        return await self.inner.find_transfers(transfer_group)


async def _accounts(services: MarketplaceServices, gateway: Any, run: Run) -> None:
    for partner in run.partners:
        await create_payout_account(services, partner, gateway)


async def _paid_run(
    world: World, services: MarketplaceServices, gateway: Any, *grosses: int
) -> Run:
    run = await approved_run(world, grosses)
    await _accounts(services, gateway, run)
    return run


def _by_statement(server: ConnectServer, run: Run) -> dict[int, int]:
    """How many transfers the server holds for each of the run's statements."""
    counts = dict.fromkeys(run.statements, 0)
    for transfer in server.transfers_in(run.group):
        counts[int(transfer["metadata"]["agora_statement"])] += 1
    return counts


async def _posted_once(world: World, result: PayRunResult) -> None:
    for payout in result.payouts:
        expected = 1 if payout.status is PAID else 0
        assert await postings(world, f"payout:{payout.id}") == expected, payout.id
    assert await unbalanced(world) == []


async def test_pays_every_payable_statement_once(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 1000, 2500, 0)
    result = await pay_run(services, run.id, gateway)
    assert result.status is RunStatus.PAID
    assert result.problems == []
    assert await statuses(world, run) == (RunStatus.PAID, [PAID, PAID, NONE])
    transfers = {int(t["metadata"]["agora_statement"]): t for t in server.transfers_in(run.group)}
    assert {s: t["amount"] for s, t in transfers.items()} == dict(
        zip(run.statements[:2], run.nets[:2], strict=True)
    )
    assert [(p.attempt, p.stripe_transfer_id) for p in result.payouts] == [
        (1, transfers[run.statements[0]]["id"]),
        (1, transfers[run.statements[1]]["id"]),
    ]
    keys = [c.idempotency_key for c in server.calls_to("POST", "/v1/transfers")]
    assert keys == [f"agora-payout-{s}-1" for s in run.statements[:2]]
    await _posted_once(world, result)
    for partner in run.partners:  # everything owed was paid out
        assert await payable_balance(world, partner) == 0
    calls = len(server.calls)
    again = await pay_run(services, run.id, gateway)  # a paid run: a no-op
    assert (again.status, len(server.calls)) == (RunStatus.PAID, calls)


async def test_a_timeout_after_the_transfer_then_pay_again_gives_one_transfer(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 1000, 2000)
    server.time_out(1, times=2)  # the call and the SDK's own retry: no answer at all
    first = await pay_run(services, run.id, gateway)
    assert [p.code for p in first.problems] == [MarketplaceErrorCode.PAYOUT_PENDING]
    assert await statuses(world, run) == (RunStatus.APPROVED, [PENDING, PAID])
    assert _by_statement(server, run) == dict.fromkeys(run.statements, 1)
    pending = next(p for p in first.payouts if p.status is PENDING)
    assert await postings(world, f"payout:{pending.id}") == 0
    posts = len(server.calls_to("POST", "/v1/transfers"))
    second = await pay_run(services, run.id, gateway)
    assert second.status is RunStatus.PAID
    assert len(server.calls_to("POST", "/v1/transfers")) == posts  # found by the lookup
    assert _by_statement(server, run) == dict.fromkeys(run.statements, 1)
    assert [(p.attempt, p.status) for p in second.payouts] == [(1, PAID), (1, PAID)]
    await _posted_once(world, second)


async def test_after_stripe_forgot_the_key_the_lookup_still_finds_the_transfer(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 1500)
    server.time_out(1, times=2)
    await pay_run(services, run.id, gateway)
    server.advance(DAY + 60)  # the key agora-payout-<statement>-1 is forgotten
    result = await pay_run(services, run.id, gateway)
    assert result.status is RunStatus.PAID
    assert _by_statement(server, run) == {run.statements[0]: 1}
    assert len(server.calls_to("POST", "/v1/transfers")) == 2  # the timed-out call, its retry
    await _posted_once(world, result)


@pytest.mark.parametrize(
    ("status", "code", "times", "reason"),
    [
        (400, "balance_insufficient", 1, "balance_insufficient: Insufficient funds"),
        (500, None, 2, "An unknown error occurred"),
    ],
)
async def test_a_stripe_error_fails_one_statement_and_paying_again_pays_it_once(
    world: World,
    services: MarketplaceServices,
    gateway: StripeTransfers,
    server: ConnectServer,
    status: int,
    code: str | None,
    times: int,
    reason: str,
) -> None:
    run = await _paid_run(world, services, gateway, 1000, 3000)
    message = "Insufficient funds" if code else "An unknown error occurred"
    server.fail(1, status=status, code=code, message=message, times=times)
    first = await pay_run(services, run.id, gateway)
    assert await statuses(world, run) == (RunStatus.APPROVED, [FAILED, PAID])
    [problem] = first.problems
    assert (problem.statement_id, problem.code) == (run.statements[0], "PAYOUT_FAILED")
    assert problem.message == reason
    second = await pay_run(services, run.id, gateway)
    assert await statuses(world, run) == (RunStatus.PAID, [PAID, PAID])
    assert _by_statement(server, run) == dict.fromkeys(run.statements, 1)
    attempts = [(p.statement_id, p.attempt, p.status) for p in second.payouts]
    assert attempts == [
        (run.statements[0], 1, FAILED),
        (run.statements[0], 2, PAID),
        (run.statements[1], 1, PAID),
    ]
    assert server.calls_to("POST", "/v1/transfers")[-1].idempotency_key == (
        f"agora-payout-{run.statements[0]}-2"
    )
    await _posted_once(world, second)


async def test_a_crash_between_stripe_and_the_commit_is_recovered_by_paying_again(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 1200, 800)
    with pytest.raises(RuntimeError, match="crashed"):
        await pay_run(services, run.id, CrashAfterTransfer(gateway))
    assert await statuses(world, run) == (RunStatus.APPROVED, [PENDING, PENDING])
    assert _by_statement(server, run) == {run.statements[0]: 1, run.statements[1]: 0}
    result = await pay_run(services, run.id, gateway)
    assert result.status is RunStatus.PAID
    assert _by_statement(server, run) == dict.fromkeys(run.statements, 1)
    assert [(p.attempt, p.status) for p in result.payouts] == [(1, PAID), (1, PAID)]
    keys = [c.idempotency_key for c in server.calls_to("POST", "/v1/transfers")]
    assert keys[-1] == f"agora-payout-{run.statements[1]}-1"  # never sent: the same attempt
    await _posted_once(world, result)


async def test_a_failed_payout_whose_transfer_exists_is_recorded_not_repeated(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 900)
    server.time_out(1, times=2)
    await pay_run(services, run.id, gateway)
    async with services.db.writer() as session, session.begin():  # as if a 5xx had come back
        await session.execute(
            update(Payout).where(Payout.run_id == run.id).values(status=FAILED, failure_reason="x")
        )
    result = await pay_run(services, run.id, gateway)
    assert [(p.attempt, p.status) for p in result.payouts] == [(1, PAID)]
    assert _by_statement(server, run) == {run.statements[0]: 1}
    await _posted_once(world, result)


async def test_a_partner_without_an_account_fails_alone(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await approved_run(world, [1000, 2000])
    await create_payout_account(services, run.partners[1], gateway)
    first = await pay_run(services, run.id, gateway)
    assert [(p.statement_id, p.code) for p in first.problems] == [
        (run.statements[0], MarketplaceErrorCode.NO_PAYOUT_ACCOUNT)
    ]
    assert await statuses(world, run) == (RunStatus.APPROVED, [FAILED, PAID])
    await pay_run(services, run.id, gateway)  # still no account: no new attempt
    assert len(await payouts_of(world, run.id)) == 2
    await create_payout_account(services, run.partners[0], gateway)
    last = await pay_run(services, run.id, gateway)
    assert last.status is RunStatus.PAID
    assert [(p.attempt, p.status) for p in last.payouts] == [(1, FAILED), (2, PAID), (1, PAID)]
    assert _by_statement(server, run) == dict.fromkeys(run.statements, 1)
    await _posted_once(world, last)


async def test_refusals_change_nothing(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 1000)
    with pytest.raises(DomainError) as unconfigured:
        await pay_run(services, run.id, None)
    assert unconfigured.value.problems[0].code == "PAYOUTS_NOT_CONFIGURED"
    server.fail(1, method="GET", path="/v1/transfers", times=2)  # the lookup cannot be made
    with pytest.raises(DomainError) as unreachable:
        await pay_run(services, run.id, gateway)
    assert unreachable.value.problems[0].code == "STRIPE_ERROR"
    draft = await approved_run(world, [500], status=RunStatus.DRAFT)
    with pytest.raises(DomainError) as not_approved:
        await pay_run(services, draft.id, gateway)
    assert not_approved.value.problems[0].code == "NOT_APPROVED"
    with pytest.raises(DomainError) as missing:
        await pay_run(services, 10**12, gateway)
    assert missing.value.problems[0].code == "NOT_FOUND"
    assert await payouts_of(world, run.id) == []
    assert server.transfers_in(run.group) == []
    nothing = await approved_run(world, [0])  # nothing to transfer: no Stripe needed
    assert (await pay_run(services, nothing.id, None)).status is RunStatus.PAID


async def test_the_payout_account_is_made_once_per_partner(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await approved_run(world, [0])
    partner = run.partners[0]
    made: list[str] = []

    async def create() -> None:
        made.append((await create_payout_account(services, partner, gateway)).stripe_account_id)

    async with anyio.create_task_group() as group:
        group.start_soon(create)
        group.start_soon(create)
    again = await create_payout_account(services, partner, gateway)
    assert not again.created
    assert made == [again.stripe_account_id] * 2
    keys = {c.idempotency_key for c in server.calls_to("POST", "/v1/accounts")}
    assert keys == {f"agora-account-{partner}"}
    owned = [
        a for a in server.accounts.values() if a["metadata"] == {"agora_partner": str(partner)}
    ]
    assert [a["id"] for a in owned] == [again.stripe_account_id]
    async with services.db.reader() as session:
        rows = (
            await session.scalars(
                select(PartnerPayoutAccount).where(PartnerPayoutAccount.partner_id == partner)
            )
        ).all()
    assert [r.stripe_account_id for r in rows] == [again.stripe_account_id]


async def test_transfer_events_settle_pending_payouts_and_reversals_reopen_them(
    world: World, services: MarketplaceServices, gateway: StripeTransfers, server: ConnectServer
) -> None:
    run = await _paid_run(world, services, gateway, 2000)
    server.time_out(1, times=2)
    first = await pay_run(services, run.id, gateway)
    [payout] = first.payouts
    [made] = server.transfers_in(run.group)
    async with services.db.writer() as session, session.begin():
        assert await apply_transfer_event(
            session, "transfer.created", transfer_of(made), services.clock()
        )
    async with services.db.writer() as session, session.begin():  # learnt twice: one posting
        assert not await apply_transfer_event(
            session, "transfer.created", transfer_of(made), services.clock()
        )
    assert await statuses(world, run) == (RunStatus.PAID, [PAID])
    assert await postings(world, f"payout:{payout.id}") == 1
    server.resources.reverse({}, made["id"])  # in full, at Stripe
    async with services.db.writer() as session, session.begin():
        reversed_ = transfer_of(server.transfers[made["id"]])
        assert await apply_transfer_event(session, "transfer.reversed", reversed_, services.clock())
    assert await statuses(world, run) == (RunStatus.APPROVED, [FAILED])
    assert await postings(world, f"payout-reversal:{payout.id}") == 1
    assert await payable_balance(world, run.partners[0]) == -run.nets[0]  # owed again
    result = await pay_run(services, run.id, gateway)  # the reversed transfer does not count
    assert [(p.attempt, p.status) for p in result.payouts] == [(1, FAILED), (2, PAID)]
    assert len(server.transfers_in(run.group)) == 2
    assert await payable_balance(world, run.partners[0]) == 0
    assert await unbalanced(world) == []
