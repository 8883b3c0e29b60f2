"""Making carts and orders straight through the trade services, so that a test about refunds
or order lists starts from a real order without replaying the whole storefront journey."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from app.goods.models import Variant
from app.logistics.models import RateBasis, ShippingRate, ShippingZone
from app.trade import buyer, cart_details, carts
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.lifecycle import mark_order_paid
from app.trade.order_models import PaymentMethod
from app.trade.shipping import ShippingOption
from tests.support.factories import World

__all__ = [
    "BERLIN",
    "STANDARD",
    "cart_gid",
    "place_order",
    "ready_cart",
    "ship_to",
    "stocked_variant",
]

BERLIN = buyer.Address(
    name="Ann Buyer",
    street1="Unter den Linden 1",
    street2="",
    city="Berlin",
    region="BE",
    postal_code="10117",
    country_code="DE",
)
STANDARD = "standard"


async def ship_to(
    world: World,
    areas: tuple[str, ...] = ("DE", "NL", "FR"),
    *,
    amount: int = 495,
    code: str = STANDARD,
    free_over: int | None = None,
) -> None:
    """One zone with one flat rate (by subtotal, from zero, unbounded)."""
    async with world.services.db.writer() as session, session.begin():
        zone = ShippingZone(
            shop_id=world.shop.id, name=f"zone-{uuid.uuid4().hex[:8]}", areas=list(areas)
        )
        session.add(zone)
        await session.flush()
        session.add(
            ShippingRate(
                zone_id=zone.id,
                code=code,
                name="Standard",
                basis=RateBasis.SUBTOTAL,
                min_value=0,
                amount=amount,
                currency=world.shop.currency,
                free_over=free_over,
                min_delivery_days=2,
                max_delivery_days=4,
            )
        )


async def stocked_variant(world: World, price: str = "10.00", units: int = 10) -> int:
    product = await world.product(prices=(price,))
    async with world.services.db.reader() as session:
        variant = await session.scalar(select(Variant.id).where(Variant.product_id == product))
    assert variant is not None
    await world.stock(variant, await world.warehouse(), units)
    return int(variant)


def cart_gid(world: World, pk: int) -> str:
    return str(world.services.cart_ids.encode(pk))


async def ready_cart(
    world: World,
    variant_id: int,
    quantity: int = 1,
    *,
    user_id: int | None = None,
    email: str | None = "ann@example.com",
    shipping_amount: int = 495,
) -> int:
    """A cart with one line, an address in Berlin and the standard method chosen."""
    trade = world.services.trade
    async with world.services.db.writer() as session, session.begin():
        cart = await carts.create_cart(session, world.shop.id, world.shop.currency, user_id)
        await carts.add_lines(session, cart, [carts.LineRequest(variant_id, quantity)])
        await cart_details.set_contact(
            session, cart, buyer.Contact(email, "+49 30 1234567"), trade.cipher
        )
        await cart_details.set_shipping_address(session, cart, BERLIN, trade.cipher)
        option = ShippingOption(STANDARD, "Standard", shipping_amount, world.shop.currency)
        await cart_details.select_shipping_method(session, cart, STANDARD, [option])
        return cart.id


async def place_order(
    world: World,
    *,
    price: str = "10.00",
    quantity: int = 1,
    method: PaymentMethod = PaymentMethod.BANK_TRANSFER,
    paid: bool = False,
    user_id: int | None = None,
) -> int:
    """A placed order (for a fresh variant in stock); marked paid when asked."""
    await ship_to(world)
    variant = await stocked_variant(world, price, units=max(10, quantity))
    cart = await ready_cart(world, variant, quantity, user_id=user_id)
    result = await complete_checkout(
        world.services.trade,
        CheckoutRequest(
            shop_id=world.shop.id,
            cart_id=cart,
            user_id=user_id,
            method=method,
            key=uuid.uuid4().hex,
        ),
    )
    if paid:
        async with world.services.db.writer() as session, session.begin():
            await mark_order_paid(session, world.shop.id, result.order_id, actor="test")
    return result.order_id
