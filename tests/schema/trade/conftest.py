"""Stripe through the front door: a real localstripe, an Agora app wired to it, and a
``Storefront`` that drives card orders through GraphQL.

The storefront's calls reach the app over ASGI (httpx), while the app is also served on a real
port, where localstripe delivers its signed webhooks as Stripe would. Both apps in this suite
(``app`` and ``stripe_app``) share the test database.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
import stripe
from sqlalchemy import func, select
from starlette.applications import Starlette

from app.config import Settings
from app.goods.models import InventoryLevel
from app.main import create_app
from schema.node import parse_id
from tests.support.clock import MutableClock
from tests.support.factories import World, gid, make_world
from tests.support.graphql import GraphQLClient
from tests.support.localstripe import (
    LocalStripe,
    configure_webhook,
    sign_stripe_event,
    start_localstripe,
    stripe_session,
)
from tests.support.served import serve_app
from tests.support.trade import ship_to, stocked_variant

WEBHOOK_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]
WAIT_SECONDS = 15.0

CART_FIELDS = "id availablePaymentMethods cost { total { amount currencyCode } }"
CREATE = f"mutation($lines: [CartLineInput!]) {{ cartCreate(lines: $lines) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
BUYER = f"mutation($c: ID!, $e: String, $p: String) {{ cartBuyerUpdate(cartId: $c, email: $e, phone: $p) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
ADDRESS = f"mutation($c: ID!, $a: AddressInput!) {{ cartShippingAddressUpdate(cartId: $c, address: $a) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
METHOD = f"mutation($c: ID!, $m: String!) {{ cartShippingMethodSelect(cartId: $c, code: $m) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
ORDER_FIELDS = """id status paymentStatus expiresAt
  cost { total { amount } paid { amount } refunded { amount } }
  lines { id quantity refundedQuantity unitPrice { amount } }
  payments { id status reference failureMessage }
  refunds { id status reference amount { amount } }
  events { kind }"""
COMPLETE = f"""mutation($c: ID!, $m: PaymentMethod!, $k: String!) {{
  checkoutComplete(cartId: $c, paymentMethod: $m, idempotencyKey: $k) {{
    order {{ {ORDER_FIELDS} }} payment {{ method clientSecret }} replayed errors {{ field code }} }} }}"""
ORDER = f"query($id: ID!) {{ order(id: $id) {{ {ORDER_FIELDS} }} }}"
REFUND = f"""mutation($input: RefundCreateInput!) {{ refundCreate(input: $input) {{
  refund {{ id status reference amount {{ amount }} }} order {{ {ORDER_FIELDS} }}
  replayed errors {{ field code }} }} }}"""
ADDRESS_INPUT = {
    "name": "Ann Buyer",
    "street1": "Unter den Linden 1",
    "city": "Berlin",
    "region": "BE",
    "postalCode": "10117",
    "countryCode": "DE",
}

Order = dict[str, Any]


def pk(global_id: str) -> int:
    parsed = parse_id(global_id)
    assert parsed is not None, global_id
    return parsed[1]


def kinds(order: Order) -> list[str]:
    return [event["kind"] for event in order["events"]]


def codes(payload: dict[str, Any]) -> list[str]:
    return [error["code"] for error in payload["errors"]]


def _metadata(obj: stripe.StripeObject) -> dict[str, str]:
    """A Stripe object's metadata as a dict (the SDK's objects are not dicts)."""
    return dict(obj.to_dict().get("metadata") or {})


def stripe_settings(settings: Settings, api_base: str, webhook_secret: str) -> Settings:
    """The suite's settings with Stripe switched on against ``api_base``."""
    return settings.model_copy(
        update={
            "stripe_api_key": "sk_test_agora",
            "stripe_api_base": api_base,
            "stripe_webhook_secret": webhook_secret,
            "stripe_timeout_seconds": 3,
            "jobs_interval_seconds": 0,
        }
    )


@asynccontextmanager
async def running_app(settings: Settings, clock: MutableClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@asynccontextmanager
async def asgi_gql(application: Starlette) -> AsyncIterator[GraphQLClient]:
    transport = httpx.ASGITransport(app=application)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield GraphQLClient(http)


@dataclass(frozen=True)
class CardCart:
    id: str  # the cart's global ID: its key
    pk: int
    variant: int
    quantity: int
    view: dict[str, Any]  # as the storefront last read it


@dataclass(frozen=True)
class CardOrder:
    id: str
    cart: CardCart
    intent: str  # pi_...
    payment_pk: int
    placed: dict[str, Any]  # the checkoutComplete payload


@dataclass
class Storefront:
    """One fresh shop on the Stripe app: a shopper's GraphQL calls, the shop's staff reading
    orders, the shopper's browser at (local)stripe, and Stripe's webhook deliveries."""

    world: World
    gql: GraphQLClient
    sdk: stripe.StripeClient
    localstripe: LocalStripe
    webhook_secret: str
    staff_id: int | None = None

    async def _mutate(self, name: str, document: str, variables: dict[str, Any]) -> Any:
        payload = (await self.gql(document, variables, shop=self.world.handle)).ok()[name]
        assert payload["errors"] == [], payload["errors"]
        return payload

    async def cart(self, *, quantity: int = 2, price: str = "12.50") -> CardCart:
        """An anonymous cart built as a storefront does: line, buyer, address, method."""
        await ship_to(self.world, amount=495)
        variant = await stocked_variant(self.world, price, units=5)
        line = {"variantId": gid("ProductVariant", variant), "quantity": quantity}
        created = await self._mutate("cartCreate", CREATE, {"lines": [line]})
        cart_id = created["cart"]["id"]
        contact = {"c": cart_id, "e": "ann@example.com", "p": "+49 30 1234567"}
        await self._mutate("cartBuyerUpdate", BUYER, contact)
        await self._mutate("cartShippingAddressUpdate", ADDRESS, {"c": cart_id, "a": ADDRESS_INPUT})
        chosen = await self._mutate(
            "cartShippingMethodSelect", METHOD, {"c": cart_id, "m": "standard"}
        )
        cart_pk = self.world.services.cart_ids.decode(cart_id)
        assert cart_pk is not None
        return CardCart(cart_id, cart_pk, variant, quantity, chosen["cart"])

    async def checkout(
        self, cart_id: str, key: str, through: GraphQLClient | None = None
    ) -> dict[str, Any]:
        variables = {"c": cart_id, "m": "STRIPE", "k": key}
        result = await (through or self.gql)(COMPLETE, variables, shop=self.world.handle)
        return result.ok()["checkoutComplete"]  # type: ignore[no-any-return]

    async def card_order(self, *, quantity: int = 2) -> CardOrder:
        """A placed card order whose PaymentIntent waits for the shopper."""
        cart = await self.cart(quantity=quantity)
        placed = await self.checkout(cart.id, uuid.uuid4().hex)
        assert placed["errors"] == [], placed["errors"]
        payment = placed["order"]["payments"][0]
        assert payment["reference"].startswith("pi_"), payment
        return CardOrder(
            placed["order"]["id"], cart, payment["reference"], pk(payment["id"]), placed
        )

    async def _staff_token(self) -> str:
        """A business user's token, issued now (the clock may have moved)."""
        if self.staff_id is None:
            self.staff_id, _ = await self.world.user("business")
        return str(self.world.services.tokens.issue(f"user:{self.staff_id}"))

    async def order(self, order_id: str) -> Order:
        """The order as the shop's staff see it."""
        token = await self._staff_token()
        found = (await self.gql(ORDER, {"id": order_id}, shop=self.world.handle, token=token)).ok()
        assert found["order"] is not None, order_id
        return found["order"]  # type: ignore[no-any-return]

    async def wait_for(self, order_id: str, what: str, done: Callable[[Order], bool]) -> Order:
        """Poll the order until ``done`` holds, for at most WAIT_SECONDS."""
        seen: Order | None = None
        with anyio.move_on_after(WAIT_SECONDS):
            while True:
                seen = await self.order(order_id)
                if done(seen):
                    return seen
                await anyio.sleep(0.1)
        tail = self.localstripe.output()[-3000:]
        pytest.fail(f"order not {what} after {WAIT_SECONDS}s: {seen}\nlocalstripe:\n{tail}")

    async def refund(
        self,
        order_id: str,
        *,
        amount: str | None = None,
        lines: dict[str, int] | None = None,
        through: GraphQLClient | None = None,
    ) -> dict[str, Any]:
        fields: dict[str, Any] = {"orderId": order_id, "idempotencyKey": uuid.uuid4().hex}
        if amount is not None:
            fields["amount"] = {"amount": amount, "currencyCode": "EUR"}
        if lines is not None:
            fields["lines"] = [{"lineId": line, "quantity": n} for line, n in lines.items()]
        token = await self._staff_token()
        variables = {"input": fields}
        result = await (through or self.gql)(REFUND, variables, shop=self.world.handle, token=token)
        return result.ok()["refundCreate"]  # type: ignore[no-any-return]

    async def reserved(self, variant: int) -> int:
        """Units of ``variant`` held for open orders, over all warehouses."""
        async with self.world.services.db.reader() as session:
            total = await session.scalar(
                select(func.coalesce(func.sum(InventoryLevel.reserved), 0)).where(
                    InventoryLevel.variant_id == variant
                )
            )
        return int(total or 0)

    async def stripe_refunds(self, intent: str) -> set[tuple[str, int, str]]:
        """The refunds localstripe holds for ``intent``: (id, amount, our refund id)."""
        listed = await self.sdk.v1.refunds.list_async({"payment_intent": intent, "limit": 100})
        return {(r.id, r.amount, _metadata(r).get("agora_refund", "")) for r in listed.data}

    async def intents_of_payment(self, payment_pk: int) -> list[str]:
        """Every PaymentIntent localstripe holds that was made for our payment row."""
        page = await self.sdk.v1.payment_intents.list_async({"limit": 100})
        return [
            intent.id
            async for intent in page.auto_paging_iter()
            if _metadata(intent).get("agora_payment") == str(payment_pk)
        ]

    async def delivered_event(self, kind: str, intent: str) -> bytes:
        """The event localstripe made for ``intent``, as Stripe's JSON (GET /v1/events)."""
        page = await self.sdk.v1.events.list_async({"type": kind, "limit": 100})
        async for event in page.auto_paging_iter():
            if event.data.object["id"] == intent:
                return json.dumps(event.to_dict()).encode()
        pytest.fail(f"localstripe has no {kind} event for {intent}")

    async def success_event(self, intent: str) -> bytes:
        """A ``payment_intent.succeeded`` event in Stripe's shape for ``intent`` as localstripe
        holds it, under a fresh event id."""
        obj = (await self.sdk.v1.payment_intents.retrieve_async(intent)).to_dict()
        obj.update(status="succeeded", amount_received=obj["amount"])
        event = {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2017-08-15",
            "created": int(time.time()),
            "livemode": False,
            "type": "payment_intent.succeeded",
            "data": {"object": obj},
        }
        return json.dumps(event).encode()

    def sign(self, body: bytes, *, secret: str | None = None, timestamp: int | None = None) -> str:
        return sign_stripe_event(body, secret or self.webhook_secret, timestamp)

    async def deliver(self, body: bytes, signature: str | None) -> httpx.Response:
        """POST /webhooks/stripe as Stripe does (``signature`` None: no header at all)."""
        headers = {"content-type": "application/json; charset=utf-8"}
        if signature is not None:
            headers["stripe-signature"] = signature
        return await self.gql.http.post("/webhooks/stripe", content=body, headers=headers)


@pytest.fixture(scope="session")
async def localstripe() -> AsyncIterator[LocalStripe]:
    async with start_localstripe() as ls:
        yield ls


@pytest.fixture(scope="session")
def webhook_secret() -> str:
    return f"whsec_test_{secrets.token_hex(16)}"


@pytest.fixture(scope="session")
async def stripe_app(
    settings: Settings,
    migrated: str,
    clock: MutableClock,
    localstripe: LocalStripe,
    webhook_secret: str,
) -> AsyncIterator[Starlette]:
    """Agora with Stripe at localstripe, on the suite's database and clock; no jobs loop."""
    configured = stripe_settings(settings, localstripe.base_url, webhook_secret)
    async with running_app(configured, clock) as application:
        yield application


@pytest.fixture(scope="session")
async def stripe_server(
    stripe_app: Starlette, localstripe: LocalStripe, webhook_secret: str
) -> AsyncIterator[str]:
    """The Stripe app on a real port, with localstripe's webhook pointed at it."""
    async with serve_app(stripe_app) as base:
        url = f"{base}/webhooks/stripe"
        await configure_webhook(
            localstripe.base_url, "agora", url, webhook_secret, events=WEBHOOK_EVENTS
        )
        yield base


@pytest.fixture
async def stripe_gql(stripe_app: Starlette) -> AsyncIterator[GraphQLClient]:
    async with asgi_gql(stripe_app) as client:
        yield client


@pytest.fixture(scope="session")
async def stripe_sdk(localstripe: LocalStripe) -> AsyncIterator[stripe.StripeClient]:
    async with stripe_session(localstripe.base_url) as client:
        yield client


@pytest.fixture
async def stripe_world(stripe_app: Starlette) -> World:
    return await make_world(stripe_app)


@pytest.fixture
def shop(
    stripe_world: World,
    stripe_gql: GraphQLClient,
    stripe_sdk: stripe.StripeClient,
    localstripe: LocalStripe,
    stripe_server: str,
    webhook_secret: str,
) -> Storefront:
    return Storefront(stripe_world, stripe_gql, stripe_sdk, localstripe, webhook_secret)
