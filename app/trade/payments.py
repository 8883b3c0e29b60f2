"""The payment-provider port, the manual provider, and the registry checkout picks from.

A provider is called only outside database transactions: it may be slow or down, and a lock
must never wait on the network. Every call carries something derived from our own row ids
(``payment_id``, ``refund_id``), so a retry after a timeout lands on the same provider object
instead of creating a second one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from app.trade.order_models import PaymentMethod

__all__ = [
    "MANUAL",
    "ManualProvider",
    "PaymentProvider",
    "PaymentProviderError",
    "PaymentProviders",
    "PaymentStartRequest",
    "ProviderRefund",
    "RefundRequest",
    "StartedPayment",
]

MANUAL = "manual"


class PaymentProviderError(Exception):
    """The provider could not be reached, timed out, or refused.

    ``definite`` is True when the provider answered with a refusal (the call certainly had no
    effect); False when the outcome is unknown (a timeout), so the caller must look before it
    retries.
    """

    def __init__(self, message: str, *, definite: bool) -> None:
        super().__init__(message)
        self.definite = definite


@dataclass(frozen=True, slots=True)
class PaymentStartRequest:
    payment_id: int
    order_id: int
    order_number: int
    shop_id: int
    amount: int
    currency: str


@dataclass(frozen=True, slots=True)
class StartedPayment:
    reference: str | None
    client_secret: str | None


@dataclass(frozen=True, slots=True)
class RefundRequest:
    refund_id: int
    payment_reference: str | None
    amount: int
    currency: str
    attempt: int


@dataclass(frozen=True, slots=True)
class ProviderRefund:
    reference: str


class PaymentProvider(Protocol):
    name: str

    async def start(self, request: PaymentStartRequest) -> StartedPayment:
        """Begin collecting ``amount``; the shopper completes it with the client secret."""
        ...

    async def client_secret(self, reference: str) -> str | None:
        """The secret for a payment already started (a replayed checkout)."""
        ...

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        """Give money back; raises ``PaymentProviderError``."""
        ...

    async def cancel(self, reference: str) -> bool:
        """Stop a payment that was started and is no longer wanted; False when the provider
        would not (it already succeeded, or could not be reached)."""
        ...

    async def close(self) -> None:
        """Release connections at shutdown."""
        ...


class ManualProvider:
    """Bank transfer and cash on delivery: money moves outside Agora.

    The shop's staff record the payment with ``orderMarkPaid`` and hand refunds back
    themselves, so a refund here is recorded as done.
    """

    name = MANUAL

    async def start(self, request: PaymentStartRequest) -> StartedPayment:
        return StartedPayment(reference=None, client_secret=None)

    async def client_secret(self, reference: str) -> str | None:
        return None

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        return ProviderRefund(reference=f"manual-refund-{request.refund_id}")

    async def cancel(self, reference: str) -> bool:
        return True

    async def close(self) -> None:
        return None


@dataclass(frozen=True)
class PaymentProviders:
    """Which provider serves which payment method; Stripe only when a key is configured."""

    by_method: Mapping[PaymentMethod, PaymentProvider]

    @classmethod
    def build(cls, stripe: PaymentProvider | None) -> PaymentProviders:
        manual = ManualProvider()
        methods: dict[PaymentMethod, PaymentProvider] = {
            PaymentMethod.BANK_TRANSFER: manual,
            PaymentMethod.CASH_ON_DELIVERY: manual,
        }
        if stripe is not None:
            methods[PaymentMethod.STRIPE] = stripe
        return cls(methods)

    @property
    def methods(self) -> list[PaymentMethod]:
        return [m for m in PaymentMethod if m in self.by_method]

    def for_method(self, method: PaymentMethod) -> PaymentProvider | None:
        return self.by_method.get(method)

    def named(self, name: str) -> PaymentProvider | None:
        return next((p for p in self.by_method.values() if p.name == name), None)

    async def close(self) -> None:
        for provider in {id(p): p for p in self.by_method.values()}.values():
            await provider.close()
