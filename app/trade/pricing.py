"""A cart's cost with shipping: subtotal from current prices, shipping from the quoter.

Shipping is re-quoted from the cart as it is now, because a rate can depend on the subtotal
(free over a threshold) or the weight. A selected method that no longer applies is a warning and
costs nothing until the shopper picks again; checkout refuses it.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.trade.carts import CartView, CartWarning, CartWarningCode
from app.trade.shipping import QuoteRequest, ShippingOption, ShippingQuoter, find_option

__all__ = ["PricedCart", "price_cart", "quote_request"]


@dataclass(frozen=True, slots=True)
class PricedCart:
    view: CartView
    options: list[ShippingOption]
    selected: ShippingOption | None
    warnings: list[CartWarning]

    @property
    def subtotal(self) -> int:
        return self.view.subtotal

    @property
    def shipping(self) -> int | None:
        return self.selected.amount if self.selected else None

    @property
    def total(self) -> int:
        return self.subtotal + (self.shipping or 0)


def quote_request(view: CartView) -> QuoteRequest | None:
    """What the quoter needs, or None while the cart has no shipping address."""
    address = view.cart.shipping_address
    if not address:
        return None
    return QuoteRequest(
        shop_id=view.cart.shop_id,
        currency=view.cart.currency,
        country_code=address["country_code"],
        region=address["region"],
        postal_code=address["postal_code"],
        subtotal=view.subtotal,
        weight_grams=view.weight_grams,
    )


async def price_cart(view: CartView, quoter: ShippingQuoter) -> PricedCart:
    """Quote shipping for the cart (outside any transaction: a quoter may call the network)."""
    request = quote_request(view)
    options = await quoter.quote(request) if request is not None and view.lines else []
    code = view.cart.shipping_method_code
    selected = find_option(options, code)
    warnings = list(view.warnings)
    if code is not None and selected is None:
        warnings.append(
            CartWarning(
                CartWarningCode.SHIPPING_METHOD_UNAVAILABLE,
                "The chosen shipping method no longer applies to this cart; choose again.",
            )
        )
    return PricedCart(view, options, selected, warnings)
