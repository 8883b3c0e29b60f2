"""``POST /webhooks/stripe`` as Stripe (here localstripe) calls it: at least once, sometimes
twice at the same moment, and only ever trusted when signed with the endpoint's secret."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from tests.schema.trade.conftest import Storefront, kinds
from tests.support.localstripe import pay_intent

pytestmark = pytest.mark.anyio

DUPLICATE = {"received": True, "duplicate": True}
APPLIED = {"received": True, "duplicate": False}


async def test_a_webhook_delivered_twice_changes_the_order_once(shop: Storefront) -> None:
    # Given a card order that localstripe's webhook has marked paid
    placed = await shop.card_order()
    await pay_intent(shop.sdk, placed.intent)
    paid = await shop.wait_for(placed.id, "PAID", lambda o: o["paymentStatus"] == "PAID")
    event = await shop.delivered_event("payment_intent.succeeded", placed.intent)

    # When Stripe delivers that same event again, twice more
    answers = [await shop.deliver(event, shop.sign(event)) for _ in range(2)]

    # Then both are acknowledged as duplicates and the order is exactly as it was
    assert [(a.status_code, a.json()) for a in answers] == [(200, DUPLICATE)] * 2
    after = await shop.order(placed.id)
    assert after == paid
    assert kinds(after).count("PAID") == 1

    # Given another unpaid order, when two copies of a new event race each other
    other = await shop.card_order()
    fresh = await shop.success_event(other.intent)
    signature = shop.sign(fresh)
    racing = await asyncio.gather(shop.deliver(fresh, signature), shop.deliver(fresh, signature))

    # Then one of them takes effect and the other is a duplicate
    assert sorted((a.status_code, json.dumps(a.json(), sort_keys=True)) for a in racing) == sorted(
        (200, json.dumps(body, sort_keys=True)) for body in (APPLIED, DUPLICATE)
    )
    order = await shop.order(other.id)
    assert (order["paymentStatus"], order["cost"]["paid"]) == ("PAID", {"amount": "29.95"})
    assert kinds(order).count("PAID") == 1


async def test_a_bad_signature_is_refused_and_changes_nothing(shop: Storefront) -> None:
    # Given an unpaid card order and a payment_intent.succeeded event for it
    placed = await shop.card_order()
    before = await shop.order(placed.id)
    event = await shop.success_event(placed.intent)
    altered = json.loads(event)
    altered["id"] += "0"  # any byte changed
    stale = int(time.time()) - 301  # tolerance is five minutes

    attempts = {
        "altered body": (json.dumps(altered).encode(), shop.sign(event)),
        "wrong secret": (event, shop.sign(event, secret="whsec_not_this_endpoint")),
        "stale timestamp": (event, shop.sign(event, timestamp=stale)),
        "missing header": (event, None),
    }
    for case, (body, signature) in attempts.items():
        # When it arrives without a valid signature
        answer = await shop.deliver(body, signature)

        # Then it is refused and the order is untouched
        assert answer.status_code == 400, (case, answer.text)
        assert await shop.order(placed.id) == before, case

    # And the very same event, properly signed, is what would have paid it
    answer = await shop.deliver(event, shop.sign(event))
    assert (answer.status_code, answer.json()) == (200, APPLIED)
    assert (await shop.order(placed.id))["paymentStatus"] == "PAID"
