"""Card payments end to end, through HTTP, against a real localstripe: checkout starts a
PaymentIntent, the shopper's browser pays it, Stripe's signed webhook marks the order, refunds
reach Stripe, an unreachable Stripe is retried safely, and unpaid orders expire."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import anyio
import pytest
import stripe
from sqlalchemy import func, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from app.config import Settings
from app.jobs import run_jobs_once
from app.trade.order_models import Order as OrderRow
from app.trade.payment_models import Payment as PaymentRow
from tests.schema.trade.conftest import (
    WAIT_SECONDS,
    WEBHOOK_EVENTS,
    Storefront,
    asgi_gql,
    codes,
    kinds,
    pk,
    running_app,
    stripe_settings,
)
from tests.support.clock import MutableClock
from tests.support.localstripe import (
    LocalStripe,
    configure_webhook,
    fail_intent,
    free_port,
    pay_intent,
)
from tests.support.served import serve_app

pytestmark = pytest.mark.anyio


def paid(order: dict[str, object]) -> bool:
    return order["paymentStatus"] == "PAID"


@dataclass
class HeldDeliveries:
    """localstripe's webhook pointed at a mailbox: deliveries wait here, genuine and signed,
    until a test forwards them, as when Stripe delivers late."""

    received: list[tuple[bytes, str]] = field(default_factory=list)

    async def wait_for(self, kind: str, intent: str) -> tuple[bytes, str]:
        with anyio.move_on_after(WAIT_SECONDS):
            while True:
                for body, signature in self.received:
                    event = json.loads(body)
                    if event["type"] == kind and event["data"]["object"]["id"] == intent:
                        return body, signature
                await anyio.sleep(0.05)
        pytest.fail(f"localstripe delivered no {kind} for {intent} in {WAIT_SECONDS}s")


def _mailbox(held: HeldDeliveries) -> Starlette:
    async def receive(request: Request) -> Response:
        held.received.append((await request.body(), request.headers.get("stripe-signature", "")))
        return Response(status_code=200)

    return Starlette(routes=[Route("/held", receive, methods=["POST"])])


@pytest.fixture
async def held_webhooks(
    localstripe: LocalStripe, stripe_server: str, webhook_secret: str
) -> AsyncIterator[HeldDeliveries]:
    """While the test runs, localstripe delivers to a mailbox instead of the app."""
    held = HeldDeliveries()
    async with serve_app(_mailbox(held)) as mailbox:
        await configure_webhook(
            localstripe.base_url, "agora", f"{mailbox}/held", webhook_secret, events=WEBHOOK_EVENTS
        )
        try:
            yield held
        finally:
            await configure_webhook(
                localstripe.base_url,
                "agora",
                f"{stripe_server}/webhooks/stripe",
                webhook_secret,
                events=WEBHOOK_EVENTS,
            )


async def test_card_journey_paid_by_webhook_then_partly_refunded(shop: Storefront) -> None:
    # Given an anonymous cart: 2 x 12.50 plus 4.95 shipping, in a shop that takes cards
    cart = await shop.cart(quantity=2, price="12.50")
    assert "STRIPE" in cart.view["availablePaymentMethods"]
    assert cart.view["cost"]["total"] == {"amount": "29.95", "currencyCode": "EUR"}

    # When the shopper checks out by card
    placed = await shop.checkout(cart.id, "card-journey")

    # Then the order waits for payment, with the PaymentIntent's secret for Stripe.js
    assert placed["errors"] == []
    order = placed["order"]
    intent = order["payments"][0]["reference"]
    assert intent.startswith("pi_")
    assert placed["payment"]["method"] == "STRIPE"
    assert placed["payment"]["clientSecret"].startswith(f"{intent}_secret_")
    assert (order["status"], order["paymentStatus"]) == ("OPEN", "UNPAID")
    expires = datetime.fromisoformat(order["expiresAt"])
    assert expires - datetime.now(UTC) > timedelta(minutes=25)
    assert kinds(order) == ["PLACED", "PAYMENT_STARTED"]
    assert await shop.reserved(cart.variant) == 2

    # When the shopper's browser pays the intent
    assert (await pay_intent(shop.sdk, intent)).status == "succeeded"

    # Then Stripe's signed webhook marks the order paid
    order = await shop.wait_for(order["id"], "PAID", paid)
    assert order["cost"]["paid"] == {"amount": "29.95"}
    assert order["payments"][0]["status"] == "SUCCEEDED"
    assert kinds(order).count("PAID") == 1

    # When the shop refunds one of the two units
    partly = await shop.refund(order["id"], lines={order["lines"][0]["id"]: 1})

    # Then Stripe holds that refund and the order shows it
    assert partly["errors"] == []
    refund = partly["refund"]
    assert (refund["status"], refund["amount"]) == ("SUCCEEDED", {"amount": "12.50"})
    assert refund["reference"].startswith("re_")
    assert partly["order"]["paymentStatus"] == "PARTIALLY_REFUNDED"
    assert partly["order"]["cost"]["refunded"] == {"amount": "12.50"}
    assert partly["order"]["lines"][0]["refundedQuantity"] == 1
    first = (refund["reference"], 1250, str(pk(refund["id"])))
    assert await shop.stripe_refunds(intent) == {first}

    # When the shop refunds the rest by amount
    rest = await shop.refund(order["id"], amount="17.45")

    # Then everything paid has gone back
    assert rest["errors"] == []
    assert rest["refund"]["status"] == "SUCCEEDED"
    assert rest["order"]["paymentStatus"] == "REFUNDED"
    assert rest["order"]["cost"]["refunded"] == {"amount": "29.95"}
    second = (rest["refund"]["reference"], 1745, str(pk(rest["refund"]["id"])))
    assert await shop.stripe_refunds(intent) == {first, second}

    # When the shop tries to refund once more
    third = await shop.refund(order["id"], amount="0.01")

    # Then it is refused as more than was paid, and Stripe saw nothing
    assert (third["refund"], codes(third)) == (None, ["REFUND_EXCEEDS_PAID"])
    assert await shop.stripe_refunds(intent) == {first, second}
    after = await shop.order(order["id"])
    assert (after["paymentStatus"], len(after["refunds"])) == ("REFUNDED", 2)


async def test_a_declined_card_marks_the_order_failed(shop: Storefront) -> None:
    # Given a card order for 3 units
    placed = await shop.card_order(quantity=3)

    # When the shopper's card is declined
    declined = await fail_intent(shop.sdk, placed.intent)
    assert declined.last_payment_error is not None
    assert declined.last_payment_error.code == "card_declined"

    # Then the webhook marks the payment failed; the order stays open with its stock held
    order = await shop.wait_for(placed.id, "FAILED", lambda o: o["paymentStatus"] == "FAILED")
    assert order["status"] == "OPEN"
    assert kinds(order) == ["PLACED", "PAYMENT_STARTED", "PAYMENT_FAILED"]
    assert order["payments"][0]["failureMessage"] != ""
    assert await shop.reserved(placed.cart.variant) == 3


async def test_stripe_unreachable_leaves_the_order_unpaid_with_stock_held_and_a_retry_reuses_the_intent(
    shop: Storefront, settings: Settings, clock: MutableClock
) -> None:
    # Given a cart, and an Agora whose Stripe cannot be reached
    cart = await shop.cart(quantity=2)
    down = stripe_settings(settings, f"http://127.0.0.1:{free_port()}", shop.webhook_secret)

    # When the shopper checks out through it
    async with running_app(down, clock) as app_down, asgi_gql(app_down) as through_down:
        failed = await shop.checkout(cart.id, "retry-me", through_down)

    # Then the order is placed, unpaid, with its stock held, and says payment did not start
    assert codes(failed) == ["PAYMENT_START_FAILED"]
    assert failed["payment"] == {"method": "STRIPE", "clientSecret": None}
    order = failed["order"]
    assert (order["status"], order["paymentStatus"]) == ("OPEN", "UNPAID")
    assert order["payments"][0]["reference"] is None
    assert kinds(order) == ["PLACED", "PAYMENT_START_FAILED"]
    assert await shop.reserved(cart.variant) == 2

    # When the shopper retries with the same key, Stripe being back
    retried = await shop.checkout(cart.id, "retry-me")

    # Then the same order gets its PaymentIntent
    assert (retried["errors"], retried["replayed"]) == ([], True)
    assert retried["order"]["id"] == order["id"]
    intent = retried["order"]["payments"][0]["reference"]
    assert intent.startswith("pi_")
    secret = retried["payment"]["clientSecret"]
    assert secret.startswith(f"{intent}_secret_")

    # And a further replay reaches that same intent, never a second one
    again = await shop.checkout(cart.id, "retry-me")
    assert again["order"]["payments"][0]["reference"] == intent
    assert again["payment"]["clientSecret"] == secret
    payment = pk(order["payments"][0]["id"])
    assert await shop.intents_of_payment(payment) == [intent]

    # And nothing was written twice
    async with shop.world.services.db.reader() as session:
        orders = list(await session.scalars(select(OrderRow.id).where(OrderRow.cart_id == cart.pk)))
        payments = await session.scalar(
            select(func.count()).select_from(PaymentRow).where(PaymentRow.order_id.in_(orders))
        )
    assert (orders, payments) == ([pk(order["id"])], 1)
    assert await shop.reserved(cart.variant) == 2


async def test_an_expired_order_cancels_its_intent_so_it_can_no_longer_be_paid(
    shop: Storefront, stripe_app: Starlette, settings: Settings, clock: MutableClock
) -> None:
    # Given a card order left unpaid past the payment deadline
    placed = await shop.card_order(quantity=2)
    assert await shop.reserved(placed.cart.variant) == 2
    clock.advance(settings.order_payment_timeout_seconds + 1)

    # When the background jobs run
    await run_jobs_once(stripe_app.state.services.trade)

    # Then the order has expired, its stock is back on sale and its intent is cancelled
    order = await shop.order(placed.id)
    assert (order["status"], order["paymentStatus"]) == ("EXPIRED", "UNPAID")
    assert kinds(order)[-1] == "EXPIRED"
    assert order["payments"][0]["status"] == "CANCELLED"
    assert await shop.reserved(placed.cart.variant) == 0
    intent = await shop.sdk.v1.payment_intents.retrieve_async(placed.intent)
    assert intent.status == "canceled"

    # When the shopper's browser tries to pay anyway, Stripe refuses and the order stays put
    with pytest.raises(stripe.InvalidRequestError):
        await pay_intent(shop.sdk, placed.intent)
    assert (await shop.sdk.v1.payment_intents.retrieve_async(placed.intent)).status == "canceled"
    assert await shop.order(placed.id) == order


async def test_money_arriving_after_expiry_is_refunded(
    shop: Storefront,
    held_webhooks: HeldDeliveries,
    stripe_app: Starlette,
    settings: Settings,
    clock: MutableClock,
) -> None:
    # Given a card order the shopper paid at the last moment, whose webhook is still on its way
    placed = await shop.card_order(quantity=2)
    assert (await pay_intent(shop.sdk, placed.intent)).status == "succeeded"
    late = await held_webhooks.wait_for("payment_intent.succeeded", placed.intent)

    # When the deadline passes and the jobs expire the order before the webhook lands
    clock.advance(settings.order_payment_timeout_seconds + 1)
    await run_jobs_once(stripe_app.state.services.trade)
    expired = await shop.order(placed.id)
    assert (expired["status"], expired["paymentStatus"]) == ("EXPIRED", "UNPAID")
    assert await shop.reserved(placed.cart.variant) == 0

    # And then Stripe's webhook arrives
    answer = await shop.deliver(*late)
    assert (answer.status_code, answer.json()) == (200, {"received": True, "duplicate": False})

    # Then the money goes straight back; the order stays expired and its stock released
    order = await shop.order(placed.id)
    assert (order["status"], order["paymentStatus"]) == ("EXPIRED", "REFUNDED")
    assert kinds(order)[-4:] == ["PAID", "PAID_AFTER_CLOSE", "REFUND_REQUESTED", "REFUNDED"]
    assert order["cost"]["refunded"] == order["cost"]["total"] == {"amount": "29.95"}
    [refund] = order["refunds"]
    assert (refund["status"], refund["amount"]) == ("SUCCEEDED", {"amount": "29.95"})
    assert await shop.stripe_refunds(placed.intent) == {
        (refund["reference"], 2995, str(pk(refund["id"])))
    }
    assert await shop.reserved(placed.cart.variant) == 0
    # The shopper's money was taken (then given back): the payment did succeed at Stripe.
    assert order["payments"][0]["status"] == "SUCCEEDED"


async def test_a_refund_left_in_doubt_is_sent_by_the_jobs_once_stripe_is_back(
    shop: Storefront, stripe_app: Starlette, settings: Settings, clock: MutableClock
) -> None:
    # Given a paid card order, already refunded 5.00 at Stripe
    placed = await shop.card_order()
    await pay_intent(shop.sdk, placed.intent)
    await shop.wait_for(placed.id, "PAID", paid)
    first = (await shop.refund(placed.id, amount="5.00"))["refund"]
    assert first["status"] == "SUCCEEDED"
    sent = (first["reference"], 500, str(pk(first["id"])))

    # When the shop refunds 3.00 more through an Agora that cannot reach Stripe
    down = stripe_settings(settings, f"http://127.0.0.1:{free_port()}", shop.webhook_secret)
    async with running_app(down, clock) as app_down, asgi_gql(app_down) as through_down:
        asked = await shop.refund(placed.id, amount="3.00", through=through_down)

    # Then that refund waits, and the order counts only what Stripe confirmed
    assert asked["errors"] == []
    assert (asked["refund"]["status"], asked["refund"]["reference"]) == ("PENDING", None)
    assert asked["order"]["cost"]["refunded"] == {"amount": "5.00"}
    assert await shop.stripe_refunds(placed.intent) == {sent}

    # When the jobs run after its wait, Stripe being back
    clock.advance(600)
    await run_jobs_once(stripe_app.state.services.trade)

    # Then it reaches Stripe exactly once and the order shows both refunds
    order = await shop.order(placed.id)
    second = next(r for r in order["refunds"] if r["id"] == asked["refund"]["id"])
    assert second["status"] == "SUCCEEDED"
    assert await shop.stripe_refunds(placed.intent) == {
        sent,
        (second["reference"], 300, str(pk(second["id"]))),
    }
    assert (order["paymentStatus"], order["cost"]["refunded"]) == (
        "PARTIALLY_REFUNDED",
        {"amount": "8.00"},
    )
