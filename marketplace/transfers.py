"""The ``TransferGateway`` port: Stripe Connect accounts and transfers for partner payouts.

A transfer pays one statement. It carries ``transfer_group`` = the run (``run-<id>``), metadata
naming the statement, the payout row and its attempt, and the idempotency key
``agora-payout-<statement>-<attempt>``. Stripe forgets idempotency keys after about a day, so
the payout flow never trusts the key alone: before it creates anything it lists the run's
transfers (``find_transfers``) and looks for the statement in their metadata.

Errors come back as ``TransferError``. ``answered`` tells the two cases apart: Stripe answered
with an error (nothing was made by this request; the payout is failed and a later pay starts a
new attempt after a lookup), or no answer came (a timeout, a dropped connection, a key still in
use by a concurrent request): the outcome is unknown and the payout stays pending.

``StripeTransfers`` implements the port with the official SDK's async calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import stripe

__all__ = [
    "ACCOUNT_KEY",
    "PAYOUT_KEY",
    "STATEMENT_KEY",
    "StripeTransfers",
    "Transfer",
    "TransferError",
    "TransferGateway",
    "TransferRequest",
    "account_idempotency_key",
    "payout_idempotency_key",
    "transfer_group",
    "transfer_of",
]

STATEMENT_KEY = "agora_statement"
PAYOUT_KEY = "agora_payout"
ATTEMPT_KEY = "agora_attempt"
RUN_KEY = "agora_run"
ACCOUNT_KEY = "agora_partner"
PAGE = 100


def transfer_group(run_id: int) -> str:
    return f"run-{run_id}"


def payout_idempotency_key(statement_id: int, attempt: int) -> str:
    return f"agora-payout-{statement_id}-{attempt}"


def account_idempotency_key(partner_id: int) -> str:
    return f"agora-account-{partner_id}"


@dataclass(frozen=True, slots=True)
class TransferRequest:
    """One attempt at paying one statement."""

    run_id: int
    statement_id: int
    payout_id: int
    attempt: int
    destination: str  # the partner's connected account, acct_...
    amount: int  # minor units, > 0
    currency: str  # ISO code, any case

    @property
    def transfer_group(self) -> str:
        return transfer_group(self.run_id)

    @property
    def idempotency_key(self) -> str:
        return payout_idempotency_key(self.statement_id, self.attempt)

    def metadata(self) -> dict[str, str]:
        return {
            STATEMENT_KEY: str(self.statement_id),
            PAYOUT_KEY: str(self.payout_id),
            ATTEMPT_KEY: str(self.attempt),
            RUN_KEY: str(self.run_id),
        }


@dataclass(frozen=True, slots=True)
class Transfer:
    """A transfer as Stripe holds it, reduced to what payouts read."""

    id: str
    amount: int
    currency: str
    destination: str
    transfer_group: str | None
    statement_id: int | None
    payout_id: int | None
    attempt: int | None
    reversed: bool = False
    amount_reversed: int = 0


def _number(value: Any) -> int | None:
    return int(value) if isinstance(value, str) and value.isdigit() else None


def transfer_of(obj: Mapping[str, Any]) -> Transfer:
    """A ``Transfer`` from Stripe's JSON for one (an API answer or a webhook's object)."""
    metadata = obj.get("metadata") or {}
    return Transfer(
        id=str(obj["id"]),
        amount=int(obj.get("amount") or 0),
        currency=str(obj.get("currency") or "").upper(),
        destination=str(obj.get("destination") or ""),
        transfer_group=obj.get("transfer_group"),
        statement_id=_number(metadata.get(STATEMENT_KEY)),
        payout_id=_number(metadata.get(PAYOUT_KEY)),
        attempt=_number(metadata.get(ATTEMPT_KEY)),
        reversed=bool(obj.get("reversed")),
        amount_reversed=int(obj.get("amount_reversed") or 0),
    )


class TransferError(Exception):
    """Stripe refused (``answered``) or the outcome is unknown (not ``answered``)."""

    def __init__(self, reason: str, *, answered: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.answered = answered


class TransferGateway(Protocol):
    async def create_account(self, partner_id: int, idempotency_key: str) -> str:
        """Create the partner's connected account; its id (acct_...)."""
        ...

    async def create_transfer(self, request: TransferRequest) -> Transfer:
        """Transfer ``request.amount`` to the destination, with the request's key."""
        ...

    async def find_transfers(self, transfer_group: str) -> list[Transfer]:
        """Every transfer Stripe holds in the group, whatever key made it."""
        ...


def _error(error: stripe.StripeError) -> TransferError:
    status = error.http_status
    code = getattr(error, "code", None) or ""
    message = error.user_message or str(error) or type(error).__name__
    reason = f"{code}: {message}" if code else message
    # 409: the same key is being used by a request still running; its outcome is unknown.
    unanswered = isinstance(error, stripe.APIConnectionError) or status is None or status == 409
    return TransferError(reason, answered=not unanswered)


class StripeTransfers:
    """``TransferGateway`` over ``stripe.StripeClient`` (v1 accounts and transfers)."""

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    async def create_account(self, partner_id: int, idempotency_key: str) -> str:
        try:
            account = await self.client.v1.accounts.create_async(
                {
                    "type": "express",
                    "capabilities": {"transfers": {"requested": True}},
                    "metadata": {ACCOUNT_KEY: str(partner_id)},
                },
                {"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as error:
            raise _error(error) from error
        return str(account.id)

    async def create_transfer(self, request: TransferRequest) -> Transfer:
        try:
            transfer = await self.client.v1.transfers.create_async(
                {
                    "amount": request.amount,
                    "currency": request.currency.lower(),
                    "destination": request.destination,
                    "transfer_group": request.transfer_group,
                    "metadata": request.metadata(),
                },
                {"idempotency_key": request.idempotency_key},
            )
        except stripe.StripeError as error:
            raise _error(error) from error
        return transfer_of(transfer.to_dict())

    async def find_transfers(self, transfer_group: str) -> list[Transfer]:
        try:
            page = await self.client.v1.transfers.list_async(
                {"transfer_group": transfer_group, "limit": PAGE}
            )
            return [transfer_of(t.to_dict()) async for t in page.auto_paging_iter()]
        except stripe.StripeError as error:
            raise _error(error) from error

    async def close(self) -> None:
        await self.client._requestor._client.close_async()  # type: ignore[union-attr]
