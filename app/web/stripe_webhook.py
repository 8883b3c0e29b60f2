"""``POST /webhooks/stripe``: Stripe's signed events about PaymentIntents and payouts.

The signature is checked by the Stripe SDK over the raw body (``Stripe-Signature``, at most
five minutes old); anything unsigned, altered or stale gets 400 and changes nothing. An event
already applied is answered 200 again without effect, since Stripe delivers at least once.

``transfer.*`` events (Connect transfers paying partner statements) update payouts: created
(or the legacy paid/updated) records the payout paid and posts it once, a full reversal turns
it failed and reverses the posting. Each event id is applied once (``provider_events``).
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
import stripe
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.trade.payment_models import ProviderEvent
from app.trade.payment_outcomes import ProviderOutcome, apply_provider_outcome
from app.trade.refund_flow import send_refund
from app.trade.stripe_payments import STRIPE
from marketplace.payout_records import apply_transfer_event
from marketplace.services import MarketplaceServices
from marketplace.transfers import transfer_of

__all__ = ["stripe_webhook"]

log = logging.getLogger("agora.web.stripe")

HANDLED = {"payment_intent.succeeded": True, "payment_intent.payment_failed": False}
TRANSFER_EVENTS = frozenset(
    {
        "transfer.created",
        "transfer.updated",
        "transfer.paid",
        "transfer.failed",
        "transfer.reversed",
    }
)
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
    if isinstance(event.get("type"), str) and event["type"] in TRANSFER_EVENTS:
        return await _transfer_event(services.marketplace, event)
    if event["type"] not in HANDLED:
        return JSONResponse({"received": True, "handled": False})
    trade = services.trade
    async with trade.db.writer() as session, session.begin():
        applied = await apply_provider_outcome(session, _outcome(event))
    for refund_id in applied.refund_ids:
        await send_refund(trade, refund_id, first=True)
    return JSONResponse({"received": True, "duplicate": applied.duplicate})


async def _first_delivery(session: AsyncSession, event: dict[str, Any]) -> bool:
    try:
        async with session.begin_nested():
            session.add(ProviderEvent(provider=STRIPE, event_id=event["id"], kind=event["type"]))
            await session.flush()
    except IntegrityError:
        return False
    return True


async def _transfer_event(marketplace: MarketplaceServices, event: dict[str, Any]) -> Response:
    obj = event["data"].get("object")
    if not isinstance(event.get("id"), str) or not isinstance(obj, dict):
        return JSONResponse({"error": "Not a transfer event."}, status_code=400)
    if obj.get("object") != "transfer" or not isinstance(obj.get("id"), str):
        return JSONResponse({"error": "Not a transfer event."}, status_code=400)
    async with marketplace.db.writer() as session, session.begin():
        if not await _first_delivery(session, event):
            return JSONResponse({"received": True, "duplicate": True})
        changed = await apply_transfer_event(
            session, event["type"], transfer_of(obj), marketplace.clock()
        )
    return JSONResponse({"received": True, "duplicate": False, "changed": changed})
