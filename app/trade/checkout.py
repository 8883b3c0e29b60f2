"""Checkout: a cart becomes an order with its stock held, then payment starts.

1. Outside any transaction: the cart is validated and priced, and shipping is quoted (a quoter
   may call an app over the network).
2. One short transaction claims the idempotency key and the cart (only at the version that was
   priced), reserves stock with conditional UPDATEs (``app.goods.reservations``), snapshots
   lines, prices and address into the order, and takes the next order number last.
3. After the commit, the payment provider is called. If it fails or times out, the order stays
   UNPAID with its stock held; replaying ``checkoutComplete`` with the same key starts payment
   again with the same provider idempotency key, so it reaches the same PaymentIntent.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.events.topics import Topic
from app.goods.models import Product, ProductStatus, Variant
from app.goods.reservations import reserve_stock
from app.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflictError,
    IdempotencyKeyError,
    recorded_result,
    run_once,
)
from app.trade.buyer import EMAIL_CONTEXT, email_index
from app.trade.carts import ensure_open, load_cart, view_cart
from app.trade.errors import TradeErrorCode
from app.trade.history import OrderEventKind, record_event
from app.trade.models import Cart, CartLine
from app.trade.numbers import next_order_number
from app.trade.order_models import Order, OrderAllocation, OrderLine, PaymentMethod
from app.trade.order_topics import record_order_event
from app.trade.payment_models import Payment
from app.trade.payment_start import start_payment
from app.trade.pricing import price_cart
from app.trade.services import TradeServices
from app.trade.shipping import ShippingOption

__all__ = ["CheckoutRequest", "CheckoutResult", "complete_checkout"]

log = logging.getLogger("agora.trade.checkout")


@dataclass(frozen=True, slots=True)
class CheckoutRequest:
    shop_id: int
    cart_id: int
    user_id: int | None
    method: PaymentMethod
    key: str
    actor: str = ""


@dataclass(frozen=True, slots=True)
class CheckoutResult:
    order_id: int
    replayed: bool
    client_secret: str | None
    payment_problem: str | None


@dataclass(frozen=True, slots=True)
class _Plan:
    version: int
    subtotal: int
    shipping: ShippingOption


def _scope(shop_id: int) -> str:
    return f"checkout:shop:{shop_id}"


def _fingerprint(request: CheckoutRequest) -> dict[str, Any]:
    return {"cart": request.cart_id, "method": request.method.value}


async def _validate(services: TradeServices, request: CheckoutRequest) -> _Plan:
    async with services.db.reader() as session:
        cart = await load_cart(session, request.shop_id, request.cart_id, request.user_id)
        ensure_open(cart)
        view = await view_cart(session, cart)
    problems: list[Problem] = []
    if not view.lines:
        problems.append(Problem(TradeErrorCode.CART_EMPTY, "The cart is empty.", ("cartId",)))
    for index, item in enumerate(view.lines):
        field = ("cartId", "lines", str(index))
        if item.variant is None:
            problems.append(
                Problem(TradeErrorCode.LINE_UNAVAILABLE, "This item is no longer sold.", field)
            )
        elif item.line.quantity > item.variant.quantity_available:
            available = max(0, item.variant.quantity_available)
            problems.append(
                Problem(TradeErrorCode.INSUFFICIENT_STOCK, f"Only {available} available.", field)
            )
    if cart.shipping_address is None:
        problems.append(
            Problem(TradeErrorCode.ADDRESS_REQUIRED, "Set a shipping address.", ("cartId",))
        )
    elif cart.shipping_method_code is None:
        problems.append(
            Problem(
                TradeErrorCode.SHIPPING_METHOD_REQUIRED, "Choose a shipping method.", ("cartId",)
            )
        )
    if services.providers.for_method(request.method) is None:
        problems.append(
            Problem(
                TradeErrorCode.PAYMENT_METHOD_UNAVAILABLE,
                "This shop does not take this payment method.",
                ("paymentMethod",),
            )
        )
    if problems:
        raise DomainError(problems)
    priced = await price_cart(view, services.quoter)
    if priced.selected is None:
        raise DomainError.one(
            TradeErrorCode.SHIPPING_METHOD_UNAVAILABLE,
            "The chosen shipping method no longer applies; choose again.",
            "cartId",
        )
    return _Plan(version=cart.version, subtotal=view.subtotal, shipping=priced.selected)


async def _claim_cart(
    session: AsyncSession, request: CheckoutRequest, plan: _Plan, now: datetime
) -> Cart:
    """Mark the cart checked out, but only the very version that was priced and quoted."""
    claimed = await session.execute(
        update(Cart)
        .where(
            Cart.id == request.cart_id,
            Cart.shop_id == request.shop_id,
            Cart.version == plan.version,
            Cart.checked_out_at.is_(None),
        )
        .values(checked_out_at=now, version=Cart.version + 1, updated_at=now)
        .returning(Cart.id)
        .execution_options(synchronize_session=False)
    )
    if claimed.first() is None:
        cart = await session.get(Cart, request.cart_id, populate_existing=True)
        if cart is not None and cart.checked_out_at is not None:
            raise DomainError.one(
                TradeErrorCode.CART_COMPLETED, "This cart is already an order.", "cartId"
            )
        raise DomainError.one(
            TradeErrorCode.CART_CHANGED, "The cart changed while checking out; retry.", "cartId"
        )
    cart = await session.get(Cart, request.cart_id, populate_existing=True)
    assert cart is not None
    return cart


async def _snapshot_lines(
    session: AsyncSession, cart: Cart, plan: _Plan
) -> list[tuple[CartLine, Variant, Product]]:
    rows = (
        await session.execute(
            select(CartLine, Variant, Product)
            .join(Variant, Variant.id == CartLine.variant_id)
            .join(Product, Product.id == Variant.product_id)
            .where(CartLine.cart_id == cart.id)
            .order_by(CartLine.id)
        )
    ).all()
    problems = [
        Problem(
            TradeErrorCode.LINE_UNAVAILABLE,
            "This item is no longer sold.",
            ("cartId", "lines", str(i)),
        )
        for i, (_, _, product) in enumerate(rows)
        if product.status != ProductStatus.ACTIVE
    ]
    if problems:
        raise DomainError(problems)
    subtotal = sum(line.quantity * variant.price_amount for line, variant, _ in rows)
    if subtotal != plan.subtotal:
        raise DomainError.one(
            TradeErrorCode.CART_CHANGED, "Prices changed while checking out; review.", "cartId"
        )
    return [(line, variant, product) for line, variant, product in rows]


def _variant_title(product: Product, variant: Variant) -> str:
    pairs = zip(product.option_names, variant.option_values, strict=False)
    return " / ".join(f"{name}: {value}" for name, value in pairs)


async def _place(
    session: AsyncSession, services: TradeServices, request: CheckoutRequest, plan: _Plan
) -> dict[str, Any]:
    now = services.clock()
    cart = await _claim_cart(session, request, plan, now)
    snapshot = await _snapshot_lines(session, cart, plan)
    held = []
    for index, (line, variant, _) in enumerate(snapshot):
        try:
            held.append(
                await reserve_stock(session, request.shop_id, variant.id, line.quantity, now=now)
            )
        except DomainError as refusal:
            raise DomainError.one(
                TradeErrorCode.INSUFFICIENT_STOCK,
                refusal.problems[0].message,
                "cartId",
                "lines",
                str(index),
            ) from refusal
    shipping = plan.shipping
    email = (
        services.cipher.decrypt(cart.sealed_email, context=EMAIL_CONTEXT)
        if cart.sealed_email
        else None
    )
    order = Order(
        shop_id=request.shop_id,
        number=0,
        cart_id=cart.id,
        user_id=cart.user_id or request.user_id,
        currency=cart.currency,
        subtotal=plan.subtotal,
        shipping_amount=shipping.amount,
        total=plan.subtotal + shipping.amount,
        payment_method=request.method,
        sealed_email=cart.sealed_email,
        email_index=email_index(services.cipher, email) if email else None,
        sealed_phone=cart.sealed_phone,
        shipping_address=cart.shipping_address,
        shipping_method_code=shipping.code,
        shipping_method_name=shipping.name,
        expires_at=now + services.payment_timeout
        if request.method is PaymentMethod.STRIPE
        else None,
    )
    session.add(order)
    await session.flush()
    lines = [
        OrderLine(
            order_id=order.id,
            variant_id=variant.id,
            product_title=product.title,
            variant_title=_variant_title(product, variant),
            sku=variant.sku,
            quantity=line.quantity,
            unit_price=variant.price_amount,
            total=line.quantity * variant.price_amount,
            weight_grams=variant.weight_grams,
        )
        for line, variant, product in snapshot
    ]
    session.add_all(lines)
    await session.flush()
    session.add_all(
        OrderAllocation(
            line_id=order_line.id,
            level_id=allocation.level_id,
            warehouse_id=allocation.warehouse_id,
            quantity=allocation.quantity,
        )
        for order_line, allocations in zip(lines, held, strict=True)
        for allocation in allocations
    )
    provider = services.providers.for_method(request.method)
    assert provider is not None
    payment = Payment(
        order_id=order.id, provider=provider.name, amount=order.total, currency=order.currency
    )
    session.add(payment)
    await record_event(
        session,
        order.id,
        OrderEventKind.PLACED,
        actor=request.actor,
        data={"total": order.total, "method": request.method.value},
    )
    # Last, so a refused checkout never burns a number and the counter's lock is brief.
    order.number = await next_order_number(session, request.shop_id)
    record_order_event(session, Topic.ORDERS_CREATED, order, now=now, lines=lines)
    await session.flush()
    return {"order_id": order.id, "payment_id": payment.id}


def _key_problem(error: Exception) -> DomainError:
    if isinstance(error, IdempotencyConflictError):
        return DomainError.one(
            TradeErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was used with another cart or payment method.",
            "idempotencyKey",
        )
    return DomainError.one(
        TradeErrorCode.INVALID,
        f"Give an idempotency key of 1 to {MAX_KEY_LENGTH} characters.",
        "idempotencyKey",
    )


async def _place_once(services: TradeServices, request: CheckoutRequest) -> tuple[dict, bool]:
    scope, fingerprint = _scope(request.shop_id), _fingerprint(request)
    found = await recorded_result(
        services.db.reader, scope=scope, key=request.key, request=fingerprint
    )
    if found is not None:
        return found, True
    try:
        plan = await _validate(services, request)
    except DomainError:
        # The same key may have just completed this very cart in a concurrent request.
        found = await recorded_result(
            services.db.reader, scope=scope, key=request.key, request=fingerprint
        )
        if found is not None:
            return found, True
        raise
    return await run_once(
        services.db.writer,
        scope=scope,
        key=request.key,
        request=fingerprint,
        effect=lambda session: _place(session, services, request, plan),
    )


async def _ensure_replay_is_theirs(
    services: TradeServices, request: CheckoutRequest, order_id: int
) -> None:
    """A replay shows the order only to whoever could have placed it: the holder of an
    unowned cart, or the shopper who owns the cart or the order."""
    async with services.db.reader() as session:
        await load_cart(session, request.shop_id, request.cart_id, request.user_id)
        owner = await session.scalar(select(Order.user_id).where(Order.id == order_id))
    if owner is not None and owner != request.user_id:
        raise DomainError.one(TradeErrorCode.NOT_FOUND, "No such cart.", "cartId")


async def complete_checkout(services: TradeServices, request: CheckoutRequest) -> CheckoutResult:
    """Place the order (or find the one this key placed), then start its payment."""
    try:
        result, replayed = await _place_once(services, request)
    except (IdempotencyConflictError, IdempotencyKeyError) as error:
        raise _key_problem(error) from error
    if replayed:
        await _ensure_replay_is_theirs(services, request, result["order_id"])
    started = await start_payment(services, result["payment_id"])
    return CheckoutResult(
        order_id=result["order_id"],
        replayed=replayed,
        client_secret=started.client_secret,
        payment_problem=started.problem,
    )
