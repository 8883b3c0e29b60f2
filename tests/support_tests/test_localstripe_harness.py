"""The localstripe harness works end to end: the async SDK against localstripe over HTTP, and
real signed webhooks from localstripe reaching an app served on 127.0.0.1. No database."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import anyio
import pytest
import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.localstripe import (
    LocalStripe,
    configure_webhook,
    fail_intent,
    free_port,
    pay_intent,
    sign_stripe_event,
    start_localstripe,
    stripe_client,
    stripe_session,
)
from tests.support.served import serve_app

pytestmark = pytest.mark.anyio

SECRET = "whsec_agora_harness"
WAIT_SECONDS = 10.0


@dataclass
class Inbox:
    """What the receiving endpoint saw: verified events, and how many deliveries it refused."""

    events: list[stripe.Event] = field(default_factory=list)
    rejected: int = 0

    async def wait_for(self, event_type: str, object_id: str) -> stripe.Event:
        with anyio.move_on_after(WAIT_SECONDS):
            while True:
                for event in self.events:
                    if event.type == event_type and event.data.object["id"] == object_id:
                        return event
                await anyio.sleep(0.05)
        seen = [(e.type, e.data.object["id"]) for e in self.events]
        pytest.fail(f"no {event_type} for {object_id} in {WAIT_SECONDS}s; saw {seen}")


def receiver(inbox: Inbox, secret: str) -> Starlette:
    async def webhook(request: Request) -> Response:
        payload = await request.body()
        try:
            event = stripe.Webhook.construct_event(
                payload, request.headers.get("stripe-signature", ""), secret
            )
        except (stripe.SignatureVerificationError, ValueError):
            inbox.rejected += 1
            return Response(status_code=400)
        inbox.events.append(event)
        return Response(status_code=200)

    return Starlette(routes=[Route("/stripe/webhook", webhook, methods=["POST"])])


@dataclass
class Harness:
    ls: LocalStripe
    client: stripe.StripeClient
    inbox: Inbox


@pytest.fixture(scope="module")
async def harness() -> AsyncIterator[Harness]:
    inbox = Inbox()
    async with (
        start_localstripe() as ls,
        serve_app(receiver(inbox, SECRET)) as url,
        stripe_session(ls.base_url) as client,
    ):
        await configure_webhook(
            ls.base_url,
            "agora",
            f"{url}/stripe/webhook",
            SECRET,
            events=["payment_intent.succeeded", "payment_intent.payment_failed"],
        )
        yield Harness(ls, client, inbox)


async def test_a_paid_intent_is_announced_by_a_verified_webhook(harness: Harness) -> None:
    client = harness.client
    intent = await client.v1.payment_intents.create_async(
        {"amount": 1234, "currency": "eur", "metadata": {"order": "o-1"}},
        {"idempotency_key": "k1"},
    )
    assert intent.status == "requires_payment_method"

    paid = await pay_intent(client, intent.id)

    assert paid.status == "succeeded"
    event = await harness.inbox.wait_for("payment_intent.succeeded", intent.id)
    assert event.data.object["amount"] == 1234
    assert event.data.object["metadata"].to_dict() == {"order": "o-1"}
    assert harness.inbox.rejected == 0, harness.ls.output()
    again = await client.v1.payment_intents.retrieve_async(intent.id)
    assert again.status == "succeeded"


async def test_a_declined_card_is_announced_as_payment_failed(harness: Harness) -> None:
    client = harness.client
    intent = await client.v1.payment_intents.create_async({"amount": 990, "currency": "eur"})

    failed = await fail_intent(client, intent.id)

    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error is not None
    assert failed.last_payment_error.code == "card_declined"
    event = await harness.inbox.wait_for("payment_intent.payment_failed", intent.id)
    assert event.data.object["last_payment_error"]["code"] == "card_declined"
    assert harness.inbox.rejected == 0, harness.ls.output()


async def test_a_partial_refund_is_listed_back_with_its_metadata(harness: Harness) -> None:
    client = harness.client
    intent = await client.v1.payment_intents.create_async({"amount": 5000, "currency": "eur"})
    await pay_intent(client, intent.id)

    refund = await client.v1.refunds.create_async(
        {"payment_intent": intent.id, "amount": 1500, "metadata": {"agora_refund": "r-1"}},
        {"idempotency_key": "refund-r-1"},
    )

    assert (refund.status, refund.amount) == ("succeeded", 1500)
    listed = await client.v1.refunds.list_async({"payment_intent": intent.id})
    assert [(r.id, r.amount, r.metadata.to_dict()) for r in listed.data] == [
        (refund.id, 1500, {"agora_refund": "r-1"})
    ]


async def test_signed_payloads_verify_and_tampered_ones_do_not() -> None:
    payload = json.dumps({"id": "evt_1", "object": "event", "type": "x", "data": {}}).encode()
    header = sign_stripe_event(payload, SECRET)

    assert stripe.Webhook.construct_event(payload, header, SECRET).id == "evt_1"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload.replace(b"evt_1", b"evt_2"), header, SECRET)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, header, "whsec_other")
    stale = sign_stripe_event(payload, SECRET, timestamp=int(time.time()) - 3600)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(payload, stale, SECRET)


async def test_an_unreachable_stripe_fails_promptly_with_a_connection_error() -> None:
    client = stripe_client(f"http://127.0.0.1:{free_port()}", timeout=1.0)
    started = time.monotonic()

    with pytest.raises(stripe.APIConnectionError):
        await client.v1.payment_intents.create_async({"amount": 100, "currency": "eur"})

    assert time.monotonic() - started < 2.0


async def test_a_stopped_localstripe_refuses_and_a_restarted_one_is_empty() -> None:
    async with start_localstripe() as ls, stripe_session(ls.base_url, timeout=1.0) as client:
        intent = await client.v1.payment_intents.create_async({"amount": 100, "currency": "eur"})

        await ls.stop()
        with pytest.raises(stripe.APIConnectionError):
            await client.v1.payment_intents.retrieve_async(intent.id)

        await ls.restart()
        with pytest.raises(stripe.InvalidRequestError):
            await client.v1.payment_intents.retrieve_async(intent.id)
        fresh = await client.v1.payment_intents.create_async({"amount": 100, "currency": "eur"})
        assert fresh.status == "requires_payment_method"
