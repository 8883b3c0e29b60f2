"""The trade API: carts, checkout, orders, payments and refunds."""

from __future__ import annotations

import strawberry

from schema.trade.carts import CartMutation, CartQuery
from schema.trade.checkout import CheckoutMutation
from schema.trade.orders import OrderMutation, OrderQuery

__all__ = ["TradeMutation", "TradeQuery"]


@strawberry.type
class TradeQuery(CartQuery, OrderQuery):
    pass


@strawberry.type
class TradeMutation(CartMutation, CheckoutMutation, OrderMutation):
    pass
