"""Stripe as a payment provider, through the official SDK's async calls.

Every request carries an idempotency key derived from our own row id, so a retry after a
timeout returns the object Stripe already made. Stripe forgets keys after about a day, and
test servers may ignore them, so before retrying a refund whose first attempt had an unknown
outcome the provider looks for it by metadata first.
"""

from __future__ import annotations

import logging

import stripe

from app.trade.payments import (
    PaymentProviderError,
    PaymentStartRequest,
    ProviderRefund,
    RefundRequest,
    StartedPayment,
)

__all__ = ["StripeProvider", "stripe_client"]

log = logging.getLogger("agora.trade.stripe")

STRIPE = "stripe"


def stripe_client(api_key: str, api_base: str, *, timeout: float) -> stripe.StripeClient:
    return stripe.StripeClient(
        api_key,
        base_addresses={"api": api_base},
        http_client=stripe.HTTPXClient(timeout=timeout),
        max_network_retries=1,
    )


def _failure(error: stripe.StripeError) -> PaymentProviderError:
    unknown = isinstance(error, stripe.APIConnectionError) or (error.http_status or 500) >= 500
    return PaymentProviderError(
        error.user_message or str(error) or type(error).__name__, definite=not unknown
    )


class StripeProvider:
    name = STRIPE

    def __init__(self, client: stripe.StripeClient) -> None:
        self.client = client

    async def start(self, request: PaymentStartRequest) -> StartedPayment:
        try:
            intent = await self.client.v1.payment_intents.create_async(
                {
                    "amount": request.amount,
                    "currency": request.currency.lower(),
                    "metadata": {
                        "agora_payment": str(request.payment_id),
                        "agora_order": str(request.order_id),
                        "agora_order_number": str(request.order_number),
                        "agora_shop": str(request.shop_id),
                    },
                },
                {"idempotency_key": f"agora-payment-{request.payment_id}"},
            )
        except stripe.StripeError as error:
            raise _failure(error) from error
        return StartedPayment(reference=intent.id, client_secret=intent.client_secret)

    async def client_secret(self, reference: str) -> str | None:
        try:
            intent = await self.client.v1.payment_intents.retrieve_async(reference)
        except stripe.StripeError as error:
            raise _failure(error) from error
        return intent.client_secret

    async def _existing_refund(self, request: RefundRequest) -> str | None:
        listed = await self.client.v1.refunds.list_async(
            {"payment_intent": request.payment_reference or "", "limit": 100}
        )
        for refund in listed.data:
            # SDK objects are not dicts; read them as plain data.
            metadata = refund.to_dict().get("metadata") or {}
            if metadata.get("agora_refund") == str(request.refund_id):
                return str(refund.id)
        return None

    async def refund(self, request: RefundRequest) -> ProviderRefund:
        if request.payment_reference is None:
            raise PaymentProviderError("The payment was never started at Stripe.", definite=True)
        try:
            if request.attempt > 1 and (found := await self._existing_refund(request)):
                return ProviderRefund(reference=found)
            refund = await self.client.v1.refunds.create_async(
                {
                    "payment_intent": request.payment_reference,
                    "amount": request.amount,
                    "metadata": {"agora_refund": str(request.refund_id)},
                },
                {"idempotency_key": f"agora-refund-{request.refund_id}"},
            )
        except stripe.StripeError as error:
            raise _failure(error) from error
        return ProviderRefund(reference=refund.id)

    async def cancel(self, reference: str) -> bool:
        try:
            await self.client.v1.payment_intents.cancel_async(reference)
        except stripe.StripeError as error:
            # A succeeded intent cannot be cancelled; its webhook refunds the closed order.
            log.info("PaymentIntent %s not cancelled: %s", reference, error)
            return False
        return True

    async def close(self) -> None:
        await self.client._requestor._client.close_async()  # type: ignore[union-attr]
