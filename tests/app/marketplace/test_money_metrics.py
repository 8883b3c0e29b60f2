"""Settlement and payout metrics: every step timed, and payouts that do not go through counted
by reason (a refusal such as WRONG_STATE is an answer, not a failure)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from app.errors import DomainError
from app.trade.stripe_payments import stripe_client
from marketplace.payout_accounts import create_payout_account
from marketplace.payouts import pay_run
from marketplace.services import MarketplaceServices
from marketplace.settlement import create_run
from marketplace.transfers import StripeTransfers, Transfer, TransferRequest
from tests.support.factories import World
from tests.support.metrics import value
from tests.support.payouts import approved_run
from tests.support.stripe_connect import API_KEY, ConnectServer, start_stripe_connect

pytestmark = pytest.mark.anyio


@pytest.fixture
async def server() -> AsyncIterator[ConnectServer]:
    async with start_stripe_connect() as running:
        yield running


@pytest.fixture
async def gateway(server: ConnectServer) -> AsyncIterator[StripeTransfers]:
    transfers = StripeTransfers(stripe_client(API_KEY, server.base_url, timeout=1.0))
    yield transfers
    await transfers.close()


class Crashing:
    """A gateway whose transfers crash: the pay run fails outright."""

    def __init__(self, inner: StripeTransfers) -> None:
        self.inner = inner

    async def create_account(self, partner_id: int, idempotency_key: str) -> str:
        return await self.inner.create_account(partner_id, idempotency_key)

    async def create_transfer(self, request: TransferRequest) -> Transfer:
        raise RuntimeError("crashed")

    async def find_transfers(self, transfer_group: str) -> list[Transfer]:
        return await self.inner.find_transfers(transfer_group)


def _failures(reason: str) -> float:
    return value("agora_payout_failures_total", reason=reason)


async def test_payout_failures_are_counted_by_reason(
    world: World, gateway: StripeTransfers, server: ConnectServer
) -> None:
    services: MarketplaceServices = world.services.marketplace
    runs = value("agora_payout_run_duration_seconds_count")
    before = {r: _failures(r) for r in ("declined", "no_payout_account", "error")}

    run = await approved_run(world, [1000, 2000, 3000])
    await create_payout_account(services, run.partners[1], gateway)
    await create_payout_account(services, run.partners[2], gateway)
    server.fail(1, status=400, code="balance_insufficient", message="Insufficient funds")
    await pay_run(services, run.id, gateway)
    with pytest.raises(RuntimeError):
        await pay_run(services, run.id, Crashing(gateway))

    assert {r: _failures(r) - n for r, n in before.items()} == {
        "declined": 1,
        "no_payout_account": 1,
        "error": 1,
    }
    assert value("agora_payout_run_duration_seconds_count") - runs == 2


async def test_a_settlement_step_is_timed_and_a_refusal_is_no_failure(world: World) -> None:
    created = value("agora_settlement_duration_seconds_count", step="create")
    failed = value("agora_settlement_failures_total", step="create")
    now = datetime.now(UTC)
    async with world.services.db.reader() as session:
        with pytest.raises(DomainError):  # no 13th month: refused before anything is written
            await create_run(
                session, period="1990-13", currency="EUR", timezone="UTC", actor="a", now=now
            )

    assert value("agora_settlement_duration_seconds_count", step="create") - created == 1
    assert value("agora_settlement_failures_total", step="create") == failed
