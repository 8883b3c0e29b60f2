"""Carts: created anonymously, reached by an opaque token, priced from current prices.

A cart never fails silently: a line for more than is in stock, a line whose price changed since
it was added, and a line whose product is no longer sold each show as a warning with the facts
(the quantity available, the new price) instead of vanishing or failing the whole cart.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import DomainError, Problem
from app.goods.queries import StockedVariant, stocked_variants_by_id
from app.trade.errors import TradeErrorCode
from app.trade.models import MAX_LINES_PER_CART, MAX_QUANTITY, Cart, CartLine

__all__ = [
    "CartView",
    "CartWarning",
    "CartWarningCode",
    "LineChange",
    "LineRequest",
    "add_lines",
    "cart_by_token",
    "create_cart",
    "remove_lines",
    "update_lines",
    "view_cart",
]


class CartWarningCode(enum.StrEnum):
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    PRICE_CHANGED = "PRICE_CHANGED"
    UNAVAILABLE = "UNAVAILABLE"


@dataclass(frozen=True, slots=True)
class LineRequest:
    variant_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class LineChange:
    line_id: int
    quantity: int


@dataclass(frozen=True, slots=True)
class CartWarning:
    code: CartWarningCode
    message: str
    line_id: int
    available: int | None = None


@dataclass(frozen=True, slots=True)
class LineView:
    line: CartLine
    variant: StockedVariant | None
    line_total: int


@dataclass(frozen=True, slots=True)
class CartView:
    cart: Cart
    lines: list[LineView]
    subtotal: int
    warnings: list[CartWarning]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _quantity_problems(quantities: Sequence[int], *field: str) -> list[Problem]:
    return [
        Problem(
            TradeErrorCode.INVALID_QUANTITY,
            f"A quantity is 1 to {MAX_QUANTITY:,}.",
            (*field, str(index), "quantity"),
        )
        for index, quantity in enumerate(quantities)
        if not 1 <= quantity <= MAX_QUANTITY
    ]


async def create_cart(session: AsyncSession, shop_id: int, currency: str) -> tuple[Cart, str]:
    """A new, empty cart and the token that reaches it (shown once, kept only as a hash)."""
    token = secrets.token_urlsafe(24)
    cart = Cart(shop_id=shop_id, token_hash=_digest(token), currency=currency)
    session.add(cart)
    await session.flush()
    return cart, token


async def cart_by_token(session: AsyncSession, shop_id: int, token: str) -> Cart:
    """The shop's cart for this token; another shop's token, or a made-up one, is not found."""
    cart = await session.scalar(
        select(Cart).where(Cart.token_hash == _digest(token), Cart.shop_id == shop_id)
    )
    if cart is None:
        raise DomainError.one(TradeErrorCode.NOT_FOUND, "No such cart.", "token")
    return cart


async def _lines(session: AsyncSession, cart: Cart) -> list[CartLine]:
    rows = await session.scalars(
        select(CartLine).where(CartLine.cart_id == cart.id).order_by(CartLine.id)
    )
    return list(rows)


async def add_lines(
    session: AsyncSession, cart: Cart, requests: Sequence[LineRequest]
) -> list[CartLine]:
    """Add variants; a variant already in the cart has its quantity increased."""
    problems = _quantity_problems([r.quantity for r in requests], "lines")
    stocked = await stocked_variants_by_id(
        session, cart.shop_id, [r.variant_id for r in requests], include_unpublished=False
    )
    problems += [
        Problem(
            TradeErrorCode.NOT_FOUND, "No such variant for sale.", ("lines", str(i), "variantId")
        )
        for i, r in enumerate(requests)
        if r.variant_id not in stocked
    ]
    if problems:
        raise DomainError(problems)
    existing = {line.variant_id: line for line in await _lines(session, cart)}
    for index, request in enumerate(requests):
        line = existing.get(request.variant_id)
        if line is None:
            line = CartLine(
                cart_id=cart.id,
                variant_id=request.variant_id,
                quantity=0,
                added_unit_price=stocked[request.variant_id].variant.price_amount,
            )
            session.add(line)
            existing[request.variant_id] = line
        line.quantity += request.quantity
        if line.quantity > MAX_QUANTITY:
            problems.append(
                Problem(
                    TradeErrorCode.INVALID_QUANTITY,
                    f"A line holds at most {MAX_QUANTITY:,}.",
                    ("lines", str(index), "quantity"),
                )
            )
    if len(existing) > MAX_LINES_PER_CART:
        problems.append(
            Problem(
                TradeErrorCode.TOO_MANY_LINES,
                f"A cart holds at most {MAX_LINES_PER_CART} lines.",
                ("lines",),
            )
        )
    if problems:
        raise DomainError(problems)
    cart.updated_at = utcnow()
    await session.flush()
    return list(existing.values())


async def update_lines(session: AsyncSession, cart: Cart, changes: Sequence[LineChange]) -> None:
    problems = _quantity_problems([c.quantity for c in changes], "lines")
    lines = {line.id: line for line in await _lines(session, cart)}
    problems += [
        Problem(TradeErrorCode.NOT_FOUND, "No such line in this cart.", ("lines", str(i), "id"))
        for i, change in enumerate(changes)
        if change.line_id not in lines
    ]
    if problems:
        raise DomainError(problems)
    for change in changes:
        lines[change.line_id].quantity = change.quantity
    cart.updated_at = utcnow()
    await session.flush()


async def remove_lines(session: AsyncSession, cart: Cart, line_ids: Sequence[int]) -> None:
    present = {line.id for line in await _lines(session, cart)}
    missing = [i for i, line_id in enumerate(line_ids) if line_id not in present]
    if missing:
        raise DomainError(
            [
                Problem(TradeErrorCode.NOT_FOUND, "No such line in this cart.", ("lineIds", str(i)))
                for i in missing
            ]
        )
    await session.execute(delete(CartLine).where(CartLine.id.in_(line_ids)))
    cart.updated_at = utcnow()
    await session.flush()


def _warnings(line: CartLine, stocked: StockedVariant | None) -> list[CartWarning]:
    if stocked is None:
        return [CartWarning(CartWarningCode.UNAVAILABLE, "This item is no longer sold.", line.id)]
    found = []
    if stocked.variant.price_amount != line.added_unit_price:
        found.append(
            CartWarning(
                CartWarningCode.PRICE_CHANGED, "The price changed since it was added.", line.id
            )
        )
    if line.quantity > stocked.quantity_available:
        found.append(
            CartWarning(
                CartWarningCode.INSUFFICIENT_STOCK,
                f"Only {max(0, stocked.quantity_available)} available.",
                line.id,
                available=max(0, stocked.quantity_available),
            )
        )
    return found


async def view_cart(session: AsyncSession, cart: Cart) -> CartView:
    """The cart priced from current prices, with its warnings: two statements."""
    lines = await _lines(session, cart)
    stocked = await stocked_variants_by_id(
        session, cart.shop_id, [line.variant_id for line in lines], include_unpublished=False
    )
    views, warnings, subtotal = [], [], 0
    for line in lines:
        variant = stocked.get(line.variant_id)
        total = line.quantity * variant.variant.price_amount if variant else 0
        subtotal += total
        views.append(LineView(line, variant, total))
        warnings += _warnings(line, variant)
    return CartView(cart, views, subtotal, warnings)
