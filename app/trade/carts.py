"""Carts: created by anyone, owned once a shopper signs in, priced from current prices.

A cart never fails silently: a line for more than is in stock, a line whose price changed since
it was added, and a line whose product is no longer sold each show as a warning with the facts
(the quantity available, the new price) instead of vanishing or failing the whole cart.

Every change raises ``version`` in SQL (``version + 1``, never a value read earlier), so two
concurrent edits both count and checkout can tell that the cart moved under it.
"""

from __future__ import annotations

import enum
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
    "LineView",
    "add_lines",
    "create_cart",
    "ensure_open",
    "latest_open_cart",
    "lines_of",
    "load_cart",
    "remove_lines",
    "touch",
    "update_lines",
    "view_cart",
]


class CartWarningCode(enum.StrEnum):
    INSUFFICIENT_STOCK = "INSUFFICIENT_STOCK"
    PRICE_CHANGED = "PRICE_CHANGED"
    UNAVAILABLE = "UNAVAILABLE"
    SHIPPING_METHOD_UNAVAILABLE = "SHIPPING_METHOD_UNAVAILABLE"


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
    line_id: int | None = None
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
    weight_grams: int
    warnings: list[CartWarning]


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


def touch(cart: Cart) -> None:
    """Record a change: the version rises in SQL, so concurrent changes never collapse."""
    cart.version = Cart.version + 1  # type: ignore[assignment]
    cart.updated_at = utcnow()


async def create_cart(
    session: AsyncSession, shop_id: int, currency: str, user_id: int | None = None
) -> Cart:
    cart = Cart(shop_id=shop_id, currency=currency, user_id=user_id)
    session.add(cart)
    await session.flush()
    return cart


async def load_cart(session: AsyncSession, shop_id: int, cart_id: int, user_id: int | None) -> Cart:
    """The shop's cart, if the caller may use it: anyone holding an unowned cart's ID, and
    only its owner once a shopper owns it. Anything else is simply not found."""
    cart = await session.scalar(select(Cart).where(Cart.id == cart_id, Cart.shop_id == shop_id))
    if cart is None or (cart.user_id is not None and cart.user_id != user_id):
        raise DomainError.one(TradeErrorCode.NOT_FOUND, "No such cart.", "cartId")
    return cart


async def latest_open_cart(
    session: AsyncSession, shop_id: int, user_id: int, *, besides: int | None = None
) -> Cart | None:
    """A shopper's most recently changed cart that has not become an order."""
    query = select(Cart).where(
        Cart.shop_id == shop_id, Cart.user_id == user_id, Cart.checked_out_at.is_(None)
    )
    if besides is not None:
        query = query.where(Cart.id != besides)
    return await session.scalar(query.order_by(Cart.updated_at.desc(), Cart.id.desc()).limit(1))


def ensure_open(cart: Cart) -> None:
    if cart.checked_out_at is not None:
        raise DomainError.one(
            TradeErrorCode.CART_COMPLETED, "This cart became an order; start a new one.", "cartId"
        )


async def lines_of(session: AsyncSession, cart: Cart) -> list[CartLine]:
    rows = await session.scalars(
        select(CartLine).where(CartLine.cart_id == cart.id).order_by(CartLine.id)
    )
    return list(rows)


async def add_lines(
    session: AsyncSession, cart: Cart, requests: Sequence[LineRequest]
) -> list[CartLine]:
    """Add variants; a variant already in the cart has its quantity increased."""
    ensure_open(cart)
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
    existing = {line.variant_id: line for line in await lines_of(session, cart)}
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
    touch(cart)
    await session.flush()
    return list(existing.values())


async def update_lines(session: AsyncSession, cart: Cart, changes: Sequence[LineChange]) -> None:
    ensure_open(cart)
    problems = _quantity_problems([c.quantity for c in changes], "lines")
    lines = {line.id: line for line in await lines_of(session, cart)}
    problems += [
        Problem(TradeErrorCode.NOT_FOUND, "No such line in this cart.", ("lines", str(i), "id"))
        for i, change in enumerate(changes)
        if change.line_id not in lines
    ]
    if problems:
        raise DomainError(problems)
    for change in changes:
        lines[change.line_id].quantity = change.quantity
    touch(cart)
    await session.flush()


async def remove_lines(session: AsyncSession, cart: Cart, line_ids: Sequence[int]) -> None:
    ensure_open(cart)
    present = {line.id for line in await lines_of(session, cart)}
    missing = [i for i, line_id in enumerate(line_ids) if line_id not in present]
    if missing:
        raise DomainError(
            [
                Problem(TradeErrorCode.NOT_FOUND, "No such line in this cart.", ("lineIds", str(i)))
                for i in missing
            ]
        )
    await session.execute(delete(CartLine).where(CartLine.id.in_(line_ids)))
    touch(cart)
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
    lines = await lines_of(session, cart)
    stocked = await stocked_variants_by_id(
        session, cart.shop_id, [line.variant_id for line in lines], include_unpublished=False
    )
    views, warnings, subtotal, weight = [], [], 0, 0
    for line in lines:
        variant = stocked.get(line.variant_id)
        total = line.quantity * variant.variant.price_amount if variant else 0
        subtotal += total
        weight += line.quantity * variant.variant.weight_grams if variant else 0
        views.append(LineView(line, variant, total))
        warnings += _warnings(line, variant)
    return CartView(cart, views, subtotal, weight, warnings)
