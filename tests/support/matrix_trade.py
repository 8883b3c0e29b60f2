"""Role-matrix rows for carts, checkout and orders, for tests/schema/test_role_matrix.py.

Cart and checkout calls are open to everyone who holds the cart; their builders make an
anonymous cart, which any caller may use. Order actions are the shop's business role's, and
their builders make a real order (paid where the action needs it) so an allowed cell proves
the call did its work.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from app.trade import carts
from tests.support.factories import World, gid
from tests.support.trade import cart_gid, place_order, ready_cart, ship_to, stocked_variant

__all__ = ["TRADE_ROWS"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]
EVERYONE_OPEN = "everyone"
SHOP_STAFF = frozenset({"business"})


async def _cart(world: World) -> tuple[str, str]:
    """An anonymous cart with one line: (cart ID, variant ID)."""
    variant = await stocked_variant(world)
    async with world.services.db.writer() as session, session.begin():
        cart = await carts.create_cart(session, world.shop.id, world.shop.currency)
        await carts.add_lines(session, cart, [carts.LineRequest(variant, 1)])
    return cart_gid(world, cart.id), gid("ProductVariant", variant)


async def cart_create(world: World) -> Request:
    return "mutation { cartCreate { cart { id } errors { code } } }", {}


async def cart_lines_add(world: World) -> Request:
    cart, variant = await _cart(world)
    query = "mutation($c: ID!, $v: ID!) { cartLinesAdd(cartId: $c, lines: [{variantId: $v}]) { errors { code } } }"
    return query, {"c": cart, "v": variant}


async def cart_lines_update(world: World) -> Request:
    cart, _ = await _cart(world)
    query = "mutation($c: ID!) { cartLinesUpdate(cartId: $c, lines: []) { errors { code } } }"
    return query, {"c": cart}


async def cart_lines_remove(world: World) -> Request:
    cart, _ = await _cart(world)
    query = "mutation($c: ID!) { cartLinesRemove(cartId: $c, lineIds: []) { errors { code } } }"
    return query, {"c": cart}


async def cart_buyer_update(world: World) -> Request:
    cart, _ = await _cart(world)
    query = 'mutation($c: ID!) { cartBuyerUpdate(cartId: $c, email: "b@example.com") { errors { code } } }'
    return query, {"c": cart}


async def cart_shipping_address_update(world: World) -> Request:
    cart, _ = await _cart(world)
    query = 'mutation($c: ID!) { cartShippingAddressUpdate(cartId: $c, address: {name: "A", street1: "S 1", city: "Berlin", countryCode: "DE"}) { errors { code } } }'
    return query, {"c": cart}


async def cart_shipping_method_select(world: World) -> Request:
    await ship_to(world)
    cart = await ready_cart(world, await stocked_variant(world))
    query = 'mutation($c: ID!) { cartShippingMethodSelect(cartId: $c, code: "standard") { errors { code } } }'
    return query, {"c": cart_gid(world, cart)}


async def checkout_complete(world: World) -> Request:
    await ship_to(world)
    cart = await ready_cart(world, await stocked_variant(world))
    query = "mutation($c: ID!, $k: String!) { checkoutComplete(cartId: $c, paymentMethod: BANK_TRANSFER, idempotencyKey: $k) { order { id } errors { code } } }"
    return query, {"c": cart_gid(world, cart), "k": uuid.uuid4().hex}


async def order_mark_paid(world: World) -> Request:
    order = await place_order(world)
    return "mutation($id: ID!) { orderMarkPaid(id: $id) { errors { code } } }", {
        "id": gid("Order", order)
    }


async def order_cancel(world: World) -> Request:
    order = await place_order(world, paid=True)
    return "mutation($id: ID!) { orderCancel(id: $id) { errors { code } } }", {
        "id": gid("Order", order)
    }


async def refund_create(world: World) -> Request:
    order = await place_order(world, paid=True)
    query = "mutation($i: RefundCreateInput!) { refundCreate(input: $i) { errors { code } } }"
    return query, {
        "i": {
            "orderId": gid("Order", order),
            "amount": {"amount": "1.00", "currencyCode": "EUR"},
            "idempotencyKey": uuid.uuid4().hex,
        }
    }


async def orders(world: World) -> Request:
    await place_order(world)
    return "{ orders(first: 5) { nodes { number } } }", {}


# None: everyone may call it (not privileged); otherwise the roles that may.
TRADE_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.cartCreate": (None, cart_create),
    "Mutation.cartLinesAdd": (None, cart_lines_add),
    "Mutation.cartLinesUpdate": (None, cart_lines_update),
    "Mutation.cartLinesRemove": (None, cart_lines_remove),
    "Mutation.cartBuyerUpdate": (None, cart_buyer_update),
    "Mutation.cartShippingAddressUpdate": (None, cart_shipping_address_update),
    "Mutation.cartShippingMethodSelect": (None, cart_shipping_method_select),
    "Mutation.checkoutComplete": (None, checkout_complete),
    "Mutation.orderMarkPaid": (SHOP_STAFF, order_mark_paid),
    "Mutation.orderCancel": (SHOP_STAFF, order_cancel),
    "Mutation.refundCreate": (SHOP_STAFF, refund_create),
    "Query.orders": (SHOP_STAFF, orders),
}
