"""The cart as a storefront reads it: lines, cost with shipping, warnings and checkout details."""

from __future__ import annotations

import strawberry
from strawberry.types import Info

from app.security.masking import MaskKind
from app.security.principal import Principal
from app.trade import buyer, carts
from app.trade.pricing import PricedCart
from schema.goods.types import ProductVariant
from schema.money import Money
from schema.node import Node, encode_id
from schema.personal_data import personal_field
from schema.trade.common import Address, PaymentMethodEnum, ShippingMethod, everyone

__all__ = ["Cart", "CartBuyer", "CartCost", "CartLine", "CartWarning"]

CartWarningCodeEnum = strawberry.enum(carts.CartWarningCode, name="CartWarningCode")


@strawberry.type
class CartWarning:
    code: CartWarningCodeEnum  # type: ignore[valid-type]
    message: str
    line_id: strawberry.ID | None = strawberry.field(description="Null for a cart-wide warning.")
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
    shipping: Money | None = strawberry.field(
        description="Null until a shipping method that ships this cart is chosen."
    )
    total: Money = strawberry.field(description="Subtotal plus shipping. Prices include tax.")


@strawberry.type(description="Who is buying. Only the cart's holder reaches a cart.")
class CartBuyer:
    email_value: strawberry.Private[str | None]
    phone_value: strawberry.Private[str | None]

    def owned_by(self, principal: Principal | None) -> bool:
        return True

    @personal_field(MaskKind.EMAIL)
    def email(self, info: Info) -> str | None:
        return self.email_value

    @personal_field(MaskKind.PHONE)
    def phone(self, info: Info) -> str | None:
        return self.phone_value


@strawberry.type
class Cart(Node):
    lines: list[CartLine]
    cost: CartCost
    warnings: list[CartWarning]
    buyer: CartBuyer
    shipping_address: Address | None
    shipping_method: ShippingMethod | None = strawberry.field(
        description="The chosen method, priced for the cart as it is now."
    )
    available_shipping_methods: list[ShippingMethod] = strawberry.field(
        description="What ships this cart to its address; empty until an address is set."
    )
    available_payment_methods: list[PaymentMethodEnum]  # type: ignore[valid-type]
    checked_out: bool = strawberry.field(description="True once the cart became an order.")

    @classmethod
    def of(
        cls,
        cart_id: strawberry.ID,
        priced: PricedCart,
        contact: buyer.Contact,
        address: buyer.Address | None,
        payment_methods: list[object],
    ) -> Cart:
        view = priced.view
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
        shipping = priced.shipping
        return cls(
            id=cart_id,
            lines=lines,
            cost=CartCost(
                subtotal=Money.of(priced.subtotal, currency),
                shipping=Money.of(shipping, currency) if shipping is not None else None,
                total=Money.of(priced.total, currency),
            ),
            warnings=[
                CartWarning(
                    code=w.code,
                    message=w.message,
                    line_id=encode_id("CartLine", w.line_id) if w.line_id else None,
                    available=w.available,
                )
                for w in priced.warnings
            ],
            buyer=CartBuyer(email_value=contact.email, phone_value=contact.phone),
            shipping_address=Address.of(address, everyone) if address else None,
            shipping_method=ShippingMethod.of(priced.selected) if priced.selected else None,
            available_shipping_methods=[ShippingMethod.of(o) for o in priced.options],
            available_payment_methods=payment_methods,
            checked_out=view.cart.checked_out_at is not None,
        )
