"""``checkoutComplete``: a cart becomes an order; for Stripe, the payload carries the client
secret the storefront confirms the PaymentIntent with."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.errors import DomainError, Problem
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.errors import TradeErrorCode
from app.trade.order_models import Order as OrderRow
from app.trade.order_models import PaymentMethod
from schema.trade.carts import cart_pk
from schema.trade.common import PaymentMethodEnum, TradeError, trade_errors
from schema.trade.order_types import Order

__all__ = ["CheckoutMutation"]


@strawberry.type
class CheckoutPayment:
    method: PaymentMethodEnum  # type: ignore[valid-type]
    client_secret: str | None = strawberry.field(
        description="For STRIPE: confirm the PaymentIntent with it (Stripe.js). Null otherwise."
    )


@strawberry.type
class CheckoutCompletePayload:
    order: Order | None
    payment: CheckoutPayment | None
    replayed: bool = strawberry.field(description="True when the idempotency key was seen before.")
    errors: list[TradeError] = strawberry.field(
        description="With an order: payment could not start yet (PAYMENT_START_FAILED); "
        "replay with the same key to retry. Without one: nothing was written."
    )


def _refused(error: DomainError) -> CheckoutCompletePayload:
    return CheckoutCompletePayload(
        order=None, payment=None, replayed=False, errors=trade_errors(error)
    )


@strawberry.type
class CheckoutMutation:
    @strawberry.mutation(
        description="Turn the cart into an order: stock is held, then payment starts. "
        "A replay with the same idempotencyKey returns the same order."
    )
    async def checkout_complete(
        self,
        info: Info,
        cart_id: strawberry.ID,
        payment_method: PaymentMethodEnum,  # type: ignore[valid-type]
        idempotency_key: str,
    ) -> CheckoutCompletePayload | None:
        context = info.context
        shop = context.require_shop()
        principal = context.principal
        services = context.services.trade
        try:
            result = await complete_checkout(
                services,
                CheckoutRequest(
                    shop_id=shop.id,
                    cart_id=cart_pk(info, cart_id),
                    user_id=principal.user_id if principal else None,
                    method=PaymentMethod(payment_method),
                    key=idempotency_key,
                    actor=principal.subject if principal else "anonymous",
                ),
            )
        except DomainError as error:
            return _refused(error)
        async with context.db.reader() as session:
            row = await session.get(OrderRow, result.order_id)
        assert row is not None
        problems = (
            DomainError(
                [
                    Problem(
                        TradeErrorCode.PAYMENT_START_FAILED,
                        "The order is placed and its stock held, but payment could not start "
                        f"({result.payment_problem}). Retry with the same idempotency key.",
                        ("paymentMethod",),
                    )
                ]
            )
            if result.payment_problem
            else None
        )
        return CheckoutCompletePayload(
            order=Order.of(row, services.cipher, caller_is_buyer=True),
            payment=CheckoutPayment(method=row.payment_method, client_secret=result.client_secret),
            replayed=result.replayed,
            errors=trade_errors(problems),
        )
