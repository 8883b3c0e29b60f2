"""``POST /webhooks/stripe``: Stripe's signed events about PaymentIntents.

The signature is checked by the Stripe SDK over the raw body (``Stripe-Signature``, at most
five minutes old); anything unsigned, altered or stale gets 400 and changes nothing. An event
already applied is answered 200 again without effect, since Stripe delivers at least once.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.trade.payment_outcomes import ProviderOutcome, apply_provider_outcome
from app.trade.refund_flow import send_refund
from app.trade.stripe_payments import STRIPE

__all__ = ["stripe_webhook"]

log = logging.getLogger("agora.web.stripe")

HANDLED = {"payment_intent.succeeded": True, "payment_intent.payment_failed": False}
TOLERANCE_SECONDS = 300


def _outcome(event: Any) -> ProviderOutcome:
    intent = event["data"]["object"]
    metadata = intent.get("metadata") or {}
    payment_id = metadata.get("agora_payment")
    error = intent.get("last_payment_error") or {}
    succeeded = HANDLED[event["type"]]
    return ProviderOutcome(
        provider=STRIPE,
        event_id=event["id"],
        kind=event["type"],
        succeeded=succeeded,
        reference=intent["id"],
        payment_id=int(payment_id) if str(payment_id or "").isdigit() else None,
        amount=int(intent.get("amount_received") or intent.get("amount") or 0),
        currency=str(intent.get("currency") or ""),
        message=str(error.get("message") or ""),
    )


async def stripe_webhook(request: Request) -> Response:
    services = request.app.state.services
    secret = services.settings.stripe_webhook_secret
    payload = await request.body()
    signature = request.headers.get("stripe-signature", "")
    if not secret:
        return JSONResponse({"error": "Stripe webhooks are not configured."}, status_code=400)
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, secret, tolerance=TOLERANCE_SECONDS
        )
        # Plain JSON from here: the SDK's event objects are not dicts.
        event = orjson.loads(payload)
    except (ValueError, UnicodeDecodeError, stripe.SignatureVerificationError):
        return JSONResponse({"error": "Bad signature or payload."}, status_code=400)
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return JSONResponse({"error": "Not a Stripe event."}, status_code=400)
    if event["type"] not in HANDLED:
        return JSONResponse({"received": True, "handled": False})
    trade = services.trade
    async with trade.db.writer() as session, session.begin():
        applied = await apply_provider_outcome(session, _outcome(event))
    for refund_id in applied.refund_ids:
        await send_refund(trade, refund_id, first=True)
    return JSONResponse({"received": True, "duplicate": applied.duplicate})
