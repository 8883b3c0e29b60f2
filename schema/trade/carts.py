"""Carts through GraphQL: created by anyone, reached by the signed ID ``cartCreate`` returns.

Holding the ID is what grants access to an anonymous cart, as with Shopify's storefront carts;
once a signed-in shopper owns the cart, only they reach it. Reads quote shipping outside any
transaction, because a quoter may call the network.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.trade import buyer, cart_details, carts
from app.trade.errors import TradeErrorCode
from app.trade.models import Cart as CartRow
from app.trade.pricing import price_cart
from schema.trade.cart_types import Cart
from schema.trade.common import AddressInput, TradeError, trade_errors
from schema.transactions import pk_or_refuse, write

__all__ = ["CartMutation", "CartQuery", "cart_view", "reachable_cart"]


@strawberry.input
class CartLineInput:
    variant_id: strawberry.ID
    quantity: int = 1


@strawberry.input
class CartLineUpdateInput:
    id: strawberry.ID
    quantity: int


@strawberry.type
class CartPayload:
    cart: Cart | None
    errors: list[TradeError]


def _user_id(info: Info) -> int | None:
    principal = info.context.principal
    return principal.user_id if principal is not None else None


def cart_pk(info: Info, cart_id: strawberry.ID) -> int:
    pk = info.context.services.cart_ids.decode(str(cart_id))
    if pk is None:
        raise DomainError.one(TradeErrorCode.NOT_FOUND, "No such cart.", "cartId")
    return pk


async def reachable_cart(info: Info, session: AsyncSession, cart_id: strawberry.ID) -> CartRow:
    """The cart this caller may use, or NOT_FOUND."""
    shop = info.context.require_shop()
    return await carts.load_cart(session, shop.id, cart_pk(info, cart_id), _user_id(info))


async def cart_view(info: Info, pk: int, row: CartRow | None = None) -> Cart:
    """The cart as it is now: read (unless ``row`` is fresh already), priced, then quoted with
    no session open."""
    services = info.context.services
    async with info.context.db.reader() as session:
        row = row or await session.get(CartRow, pk)
        assert row is not None
        view = await carts.view_cart(session, row)
    priced = await price_cart(view, services.trade.quoter)
    cipher = services.trade.cipher
    return Cart.of(
        services.cart_ids.encode(pk),
        priced,
        buyer.open_contact(row.sealed_email, row.sealed_phone, cipher),
        buyer.open_address(row.shipping_address, cipher),
        list(services.trade.providers.methods),
    )


def _requests(lines: list[CartLineInput]) -> list[carts.LineRequest]:
    return [
        carts.LineRequest(
            pk_or_refuse(
                line.variant_id,
                "ProductVariant",
                TradeErrorCode.NOT_FOUND,
                "lines",
                str(i),
                "variantId",
            ),
            line.quantity,
        )
        for i, line in enumerate(lines)
    ]


async def _change(
    info: Info, cart_id: strawberry.ID, change: Callable[[AsyncSession, CartRow], Awaitable[None]]
) -> CartPayload:
    async def work(session: AsyncSession) -> int:
        cart = await reachable_cart(info, session, cart_id)
        await change(session, cart)
        return cart.id

    pk, error = await write(info, work)
    return CartPayload(cart=await cart_view(info, pk) if pk else None, errors=trade_errors(error))


@strawberry.type
class CartQuery:
    @strawberry.field(description="A cart by the ID cartCreate returned; null if not yours.")
    async def cart(self, info: Info, id: strawberry.ID) -> Cart | None:
        try:
            async with info.context.db.reader() as session:
                row = await reachable_cart(info, session, id)
        except DomainError:
            return None
        return await cart_view(info, row.id, row)


@strawberry.type
class CartMutation:
    @strawberry.mutation(
        description="A new cart, optionally with lines. Keep its id: it is the key to the cart. "
        "A signed-in shopper's cart is theirs alone."
    )
    async def cart_create(
        self, info: Info, lines: list[CartLineInput] | None = None
    ) -> CartPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> int:
            cart = await carts.create_cart(session, shop.id, shop.currency, _user_id(info))
            if lines:
                await carts.add_lines(session, cart, _requests(lines))
            return cart.id

        pk, error = await write(info, work)
        return CartPayload(
            cart=await cart_view(info, pk) if pk else None, errors=trade_errors(error)
        )

    @strawberry.mutation(description="Add variants; one already in the cart is increased.")
    async def cart_lines_add(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineInput]
    ) -> CartPayload | None:
        async def change(session: AsyncSession, cart: CartRow) -> None:
            await carts.add_lines(session, cart, _requests(lines))

        return await _change(info, cart_id, change)

    @strawberry.mutation(
        description="Set line quantities (1 to 10,000); remove lines to drop them."
    )
    async def cart_lines_update(
        self, info: Info, cart_id: strawberry.ID, lines: list[CartLineUpdateInput]
    ) -> CartPayload | None:
        async def change(session: AsyncSession, cart: CartRow) -> None:
            changes = [
                carts.LineChange(
                    pk_or_refuse(
                        line.id, "CartLine", TradeErrorCode.NOT_FOUND, "lines", str(i), "id"
                    ),
                    line.quantity,
                )
                for i, line in enumerate(lines)
            ]
            await carts.update_lines(session, cart, changes)

        return await _change(info, cart_id, change)

    @strawberry.mutation
    async def cart_lines_remove(
        self, info: Info, cart_id: strawberry.ID, line_ids: list[strawberry.ID]
    ) -> CartPayload | None:
        async def change(session: AsyncSession, cart: CartRow) -> None:
            pks = [
                pk_or_refuse(line_id, "CartLine", TradeErrorCode.NOT_FOUND, "lineIds", str(i))
                for i, line_id in enumerate(line_ids)
            ]
            await carts.remove_lines(session, cart, pks)

        return await _change(info, cart_id, change)

    @strawberry.mutation(description="Who is buying. An empty string clears a value.")
    async def cart_buyer_update(
        self,
        info: Info,
        cart_id: strawberry.ID,
        email: str | None = None,
        phone: str | None = None,
    ) -> CartPayload | None:
        cipher = info.context.services.trade.cipher

        async def change(session: AsyncSession, cart: CartRow) -> None:
            current = buyer.open_contact(cart.sealed_email, cart.sealed_phone, cipher)
            contact = buyer.validate_contact(
                current.email if email is None else email,
                current.phone if phone is None else phone,
            )
            await cart_details.set_contact(session, cart, contact, cipher)

        return await _change(info, cart_id, change)

    @strawberry.mutation(description="Where the order ships; shipping methods follow from it.")
    async def cart_shipping_address_update(
        self, info: Info, cart_id: strawberry.ID, address: AddressInput
    ) -> CartPayload | None:
        cipher = info.context.services.trade.cipher

        async def change(session: AsyncSession, cart: CartRow) -> None:
            clean = buyer.validate_address(address.to_address(), "address")
            await cart_details.set_shipping_address(session, cart, clean, cipher)

        return await _change(info, cart_id, change)

    @strawberry.mutation(description="Choose one of the cart's availableShippingMethods.")
    async def cart_shipping_method_select(
        self, info: Info, cart_id: strawberry.ID, code: str
    ) -> CartPayload | None:
        try:
            async with info.context.db.reader() as session:
                row = await reachable_cart(info, session, cart_id)
                view = await carts.view_cart(session, row)
        except DomainError as error:
            return CartPayload(cart=None, errors=trade_errors(error))
        priced = await price_cart(view, info.context.services.trade.quoter)

        async def change(session: AsyncSession, cart: CartRow) -> None:
            await cart_details.select_shipping_method(session, cart, code, priced.options)

        return await _change(info, cart_id, change)
