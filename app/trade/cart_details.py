"""What a cart needs beyond its lines before checkout: who buys, where it goes, how it ships;
and folding a shopper's anonymous cart into their own when they sign in."""

from __future__ import annotations

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.contact import PersonalDataCipher
from app.errors import DomainError
from app.trade.buyer import Address, Contact, seal_address, seal_contact
from app.trade.carts import ensure_open, latest_open_cart, lines_of, touch
from app.trade.errors import TradeErrorCode
from app.trade.models import MAX_LINES_PER_CART, MAX_QUANTITY, Cart, CartLine
from app.trade.shipping import ShippingOption, find_option

__all__ = ["merge_into_owner", "select_shipping_method", "set_contact", "set_shipping_address"]


async def set_contact(
    session: AsyncSession, cart: Cart, contact: Contact, cipher: PersonalDataCipher
) -> None:
    ensure_open(cart)
    cart.sealed_email, cart.sealed_phone = seal_contact(contact, cipher)
    touch(cart)
    await session.flush()


async def set_shipping_address(
    session: AsyncSession, cart: Cart, address: Address, cipher: PersonalDataCipher
) -> None:
    """A new address keeps the chosen method; pricing warns if it no longer applies."""
    ensure_open(cart)
    cart.shipping_address = seal_address(address, cipher)
    touch(cart)
    await session.flush()


async def select_shipping_method(
    session: AsyncSession, cart: Cart, code: str, options: list[ShippingOption]
) -> None:
    """Choose one of ``options``, the quote for this cart taken just before."""
    ensure_open(cart)
    if cart.shipping_address is None:
        raise DomainError.one(
            TradeErrorCode.ADDRESS_REQUIRED, "Set a shipping address first.", "cartId"
        )
    if find_option(options, code) is None:
        raise DomainError.one(
            TradeErrorCode.SHIPPING_METHOD_UNAVAILABLE,
            "This method does not ship this cart to this address.",
            "code",
        )
    cart.shipping_method_code = code
    touch(cart)
    await session.flush()


async def merge_into_owner(session: AsyncSession, source: Cart, user_id: int) -> Cart:
    """Give an anonymous cart to the shopper who just signed in.

    With no open cart of their own, the anonymous cart simply becomes theirs. Otherwise its
    lines join their cart (quantities add up, capped at the line maximum), the details their
    cart lacks are taken over, and the anonymous cart is deleted, so its ID reaches nothing.
    When together they would pass the line limit, nothing moves (TOO_MANY_LINES): a partial
    merge would leave the shopper guessing which items went where.
    """
    ensure_open(source)
    if source.user_id == user_id:
        return source
    target = await latest_open_cart(session, source.shop_id, user_id, besides=source.id)
    if target is None:
        source.user_id = user_id
        touch(source)
        await session.flush()
        return source
    own = {line.variant_id: line for line in await lines_of(session, target)}
    incoming = await lines_of(session, source)
    joined = len(own.keys() | {line.variant_id for line in incoming})
    if joined > MAX_LINES_PER_CART:
        raise DomainError.one(
            TradeErrorCode.TOO_MANY_LINES,
            f"Together the carts would hold {joined} lines; a cart holds at most "
            f"{MAX_LINES_PER_CART}. Both are left as they are.",
            "cartId",
        )
    for line in incoming:
        mine = own.get(line.variant_id)
        if mine is None:
            await session.execute(
                update(CartLine)
                .where(CartLine.id == line.id)
                .values(cart_id=target.id)
                .execution_options(synchronize_session=False)
            )
        else:
            mine.quantity = min(MAX_QUANTITY, mine.quantity + line.quantity)
    for attribute in ("sealed_email", "sealed_phone", "shipping_address", "shipping_method_code"):
        if getattr(target, attribute) is None:
            setattr(target, attribute, getattr(source, attribute))
    touch(target)
    await session.flush()
    await session.execute(delete(Cart).where(Cart.id == source.id))
    return target
