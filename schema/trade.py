"""Carts through GraphQL: anonymous, reached by the token ``cartCreate`` returns.

Holding the token is what grants access to a cart, as with Shopify's storefront carts; the
token is shown once and kept only as a hash.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.trade import carts
from app.trade.errors import TradeErrorCode
from app.trade.models import Cart as CartRow
from schema.errors import UserError, user_errors
from schema.goods.types import ProductVariant
from schema.money import Money
from schema.node import Node, encode_id
from schema.transactions import pk_or_refuse, write

__all__ = ["TradeMutation", "TradeQuery"]

TradeErrorCodeEnum = strawberry.enum(TradeErrorCode, name="TradeErrorCode")
CartWarningCodeEnum = strawberry.enum(carts.CartWarningCode, name="CartWarningCode")


@strawberry.type
class TradeError(UserError):
    code: TradeErrorCodeEnum  # type: ignore[valid-type]


@strawberry.type
class CartWarning:
    code: CartWarningCodeEnum  # type: ignore[valid-type]
    message: str
    line_id: strawberry.ID
    available: int | None = strawberry.field(description="Units on sale, for INSUFFICIENT_STOCK.")


@strawberry.type
class CartLineCost:
    unit_price: Money | None
    added_unit_price: Money
    subtotal: Money


@strawberry.type
class CartLine(Node):
    quantity: int
    variant: ProductVariant | None = strawberry.field(description="Null once it is no longer sold.")
    cost: CartLineCost


@strawberry.type
class CartCost:
    subtotal: Money
    total: Money = strawberry.field(
        description="Prices include tax; shipping is added at checkout."
    )


@strawberry.type
class Cart(Node):
    lines: list[CartLine]
    cost: CartCost
    warnings: list[CartWarning]

    @classmethod
    def of(cls, view: carts.CartView) -> Cart:
        currency = view.cart.currency
        lines = []
        for item in view.lines:
            price = item.variant.variant.price_amount if item.variant else None
            lines.append(
                CartLine(
                    id=encode_id("CartLine", item.line.id),
                    quantity=item.line.quantity,
                    variant=ProductVariant.of(item.variant) if item.variant else None,
                    cost=CartLineCost(
                        unit_price=Money.of(price, currency) if price is not None else None,
                        added_unit_price=Money.of(item.line.added_unit_price, currency),
                        subtotal=Money.of(item.line_total, currency),
                    ),
                )
            )
        subtotal = Money.of(view.subtotal, currency)
        return cls(
            id=encode_id("Cart", view.cart.id),
            lines=lines,
            cost=CartCost(subtotal=subtotal, total=subtotal),
            warnings=[
                CartWarning(
                    code=w.code,
                    message=w.message,
                    line_id=encode_id("CartLine", w.line_id),
                    available=w.available,
                )
                for w in view.warnings
            ],
        )


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
    token: str | None = strawberry.field(
        description="Only from cartCreate: keep it to reach the cart."
    )
    errors: list[TradeError]


def _errors(error: DomainError | None) -> list[TradeError]:
    return [] if error is None else user_errors(error, TradeError, TradeErrorCodeEnum)


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


async def _view(info: Info, cart: CartRow) -> Cart:
    async with info.context.db.reader() as session:
        return Cart.of(await carts.view_cart(session, cart))


async def _change(
    info: Info, token: str, change: Callable[[AsyncSession, CartRow], Awaitable[None]]
) -> CartPayload:
    shop = info.context.require_shop()

    async def work(session: AsyncSession) -> CartRow:
        cart = await carts.cart_by_token(session, shop.id, token)
        await change(session, cart)
        return cart

    cart, error = await write(info, work)
    return CartPayload(
        cart=await _view(info, cart) if cart else None, token=None, errors=_errors(error)
    )


@strawberry.type
class TradeQuery:
    @strawberry.field(description="A cart by the token cartCreate returned; null if unknown.")
    async def cart(self, info: Info, token: str) -> Cart | None:
        shop = info.context.require_shop()
        async with info.context.db.reader() as session:
            try:
                row = await carts.cart_by_token(session, shop.id, token)
            except DomainError:
                return None
            return Cart.of(await carts.view_cart(session, row))


@strawberry.type
class TradeMutation:
    @strawberry.mutation(description="A new cart, optionally with lines; returns its token.")
    async def cart_create(
        self, info: Info, lines: list[CartLineInput] | None = None
    ) -> CartPayload | None:
        shop = info.context.require_shop()
        issued: list[str] = []

        async def work(session: AsyncSession) -> CartRow:
            cart, token = await carts.create_cart(session, shop.id, shop.currency)
            if lines:
                await carts.add_lines(session, cart, _requests(lines))
            issued.append(token)
            return cart

        cart, error = await write(info, work)
        if cart is None:
            return CartPayload(cart=None, token=None, errors=_errors(error))
        return CartPayload(cart=await _view(info, cart), token=issued[0], errors=[])

    @strawberry.mutation(description="Add variants; one already in the cart is increased.")
    async def cart_lines_add(
        self, info: Info, token: str, lines: list[CartLineInput]
    ) -> CartPayload | None:
        async def change(session: AsyncSession, cart: CartRow) -> None:
            await carts.add_lines(session, cart, _requests(lines))

        return await _change(info, token, change)

    @strawberry.mutation(
        description="Set line quantities (1 to 10,000); remove lines to drop them."
    )
    async def cart_lines_update(
        self, info: Info, token: str, lines: list[CartLineUpdateInput]
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

        return await _change(info, token, change)

    @strawberry.mutation
    async def cart_lines_remove(
        self, info: Info, token: str, line_ids: list[strawberry.ID]
    ) -> CartPayload | None:
        async def change(session: AsyncSession, cart: CartRow) -> None:
            pks = [
                pk_or_refuse(line_id, "CartLine", TradeErrorCode.NOT_FOUND, "lineIds", str(i))
                for i, line_id in enumerate(line_ids)
            ]
            await carts.remove_lines(session, cart, pks)

        return await _change(info, token, change)
