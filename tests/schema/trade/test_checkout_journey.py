"""A storefront's whole journey through HTTP: an anonymous cart to a placed order."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.goods.models import InventoryLevel
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.trade import ship_to, stocked_variant

pytestmark = pytest.mark.anyio

CART_FIELDS = """id lines { id quantity } cost { subtotal { amount } shipping { amount } total { amount currencyCode } }
  warnings { code } buyer { email phone } shippingAddress { name street1 city region postalCode countryCode }
  shippingMethod { code price { amount } } availableShippingMethods { code name price { amount } minDeliveryDays }
  availablePaymentMethods"""
CREATE = f"mutation($lines: [CartLineInput!]) {{ cartCreate(lines: $lines) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
BUYER = f"mutation($c: ID!, $e: String, $p: String) {{ cartBuyerUpdate(cartId: $c, email: $e, phone: $p) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
ADDRESS = f"mutation($c: ID!, $a: AddressInput!) {{ cartShippingAddressUpdate(cartId: $c, address: $a) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
METHOD = f"mutation($c: ID!, $m: String!) {{ cartShippingMethodSelect(cartId: $c, code: $m) {{ cart {{ {CART_FIELDS} }} errors {{ field code }} }} }}"
COMPLETE = """mutation($c: ID!, $m: PaymentMethod!, $k: String!) { checkoutComplete(cartId: $c, paymentMethod: $m, idempotencyKey: $k) {
  order { id number name status paymentStatus fulfillmentStatus paymentMethod email
    cost { subtotal { amount } shipping { amount } total { amount } paid { amount } }
    shippingAddress { street1 city } lines { sku quantity unitPrice { amount } total { amount } } events { kind } }
  payment { method clientSecret } replayed errors { field code message } } }"""
ADDRESS_INPUT = {
    "name": "Ann Buyer",
    "street1": "Unter den Linden 1",
    "city": "Berlin",
    "region": "be",
    "postalCode": "10117",
    "countryCode": "de",
}


async def _held(world: World, variant: int) -> tuple[int, int]:
    async with world.services.db.reader() as session:
        level = await session.scalar(
            select(InventoryLevel).where(InventoryLevel.variant_id == variant)
        )
    assert level is not None
    return level.on_hand, level.reserved


async def test_cash_on_delivery_journey(world: World, gql: GraphQLClient) -> None:
    await ship_to(world, amount=495, free_over=10_000)
    variant = await stocked_variant(world, "12.50", units=5)

    created = (
        await gql(
            CREATE,
            {"lines": [{"variantId": gid("ProductVariant", variant), "quantity": 2}]},
            shop=world.handle,
        )
    ).ok()["cartCreate"]
    assert created["errors"] == []
    cart = created["cart"]
    assert cart["cost"]["shipping"] is None
    assert cart["availableShippingMethods"] == []
    assert cart["availablePaymentMethods"] == ["BANK_TRANSFER", "CASH_ON_DELIVERY"]

    with_buyer = (
        await gql(
            BUYER,
            {"c": cart["id"], "e": "Ann@Example.com", "p": "+49 30 1234567"},
            shop=world.handle,
        )
    ).ok()["cartBuyerUpdate"]
    assert with_buyer["cart"]["buyer"] == {"email": "ann@example.com", "phone": "+49301234567"}

    addressed = (await gql(ADDRESS, {"c": cart["id"], "a": ADDRESS_INPUT}, shop=world.handle)).ok()[
        "cartShippingAddressUpdate"
    ]
    assert addressed["errors"] == []
    assert addressed["cart"]["shippingAddress"]["countryCode"] == "DE"
    assert addressed["cart"]["availableShippingMethods"] == [
        {"code": "standard", "name": "Standard", "price": {"amount": "4.95"}, "minDeliveryDays": 2}
    ]

    chosen = (await gql(METHOD, {"c": cart["id"], "m": "standard"}, shop=world.handle)).ok()[
        "cartShippingMethodSelect"
    ]
    assert chosen["errors"] == []
    assert chosen["cart"]["cost"] == {
        "subtotal": {"amount": "25.00"},
        "shipping": {"amount": "4.95"},
        "total": {"amount": "29.95", "currencyCode": "EUR"},
    }

    completed = (
        await gql(
            COMPLETE,
            {"c": cart["id"], "m": "CASH_ON_DELIVERY", "k": "journey-1"},
            shop=world.handle,
        )
    ).ok()["checkoutComplete"]
    assert completed["errors"] == []
    order = completed["order"]
    assert order["name"] == f"#{order['number']}"
    assert (order["status"], order["paymentStatus"], order["fulfillmentStatus"]) == (
        "OPEN",
        "UNPAID",
        "UNFULFILLED",
    )
    assert order["cost"] == {
        "subtotal": {"amount": "25.00"},
        "shipping": {"amount": "4.95"},
        "total": {"amount": "29.95"},
        "paid": {"amount": "0.00"},
    }
    assert order["email"] == "ann@example.com"  # the buyer sees their own order clear
    assert order["shippingAddress"] == {"street1": "Unter den Linden 1", "city": "Berlin"}
    assert [(line["quantity"], line["total"]["amount"]) for line in order["lines"]] == [
        (2, "25.00")
    ]
    assert [e["kind"] for e in order["events"]] == ["PLACED"]
    assert completed["payment"] == {"method": "CASH_ON_DELIVERY", "clientSecret": None}
    assert await _held(world, variant) == (5, 2)

    again = (
        await gql(
            COMPLETE,
            {"c": cart["id"], "m": "CASH_ON_DELIVERY", "k": "journey-1"},
            shop=world.handle,
        )
    ).ok()["checkoutComplete"]
    assert again["replayed"] is True
    assert again["order"]["id"] == order["id"]
    assert await _held(world, variant) == (5, 2)
