"""The GraphQL adapter: one strawberry schema over the domains."""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.schema.config import StrawberryConfig

from app.config import Settings
from schema.audit import AuditQuery
from schema.extensions import build_extensions
from schema.goods.mutations import GoodsMutation
from schema.goods.queries import GoodsQuery
from schema.goods.types import (
    Category,
    InventoryAdjustment,
    Product,
    ProductVariant,
    Warehouse,
)
from schema.identity import IdentityMutation, IdentityQuery, Shop, User
from schema.limits import LimitsMutation
from schema.logistics import LogisticsMutation, LogisticsQuery, LogisticsSubscription
from schema.logistics.shipment_types import Shipment
from schema.marketplace import MarketplaceMutation, MarketplaceQuery
from schema.root import NodeQuery
from schema.trade import TradeMutation, TradeQuery
from schema.trade.order_types import Order

__all__ = ["Mutation", "Query", "Subscription", "build_schema"]


@strawberry.type
class Query(
    NodeQuery,
    IdentityQuery,
    GoodsQuery,
    TradeQuery,
    AuditQuery,
    LogisticsQuery,
    MarketplaceQuery,
):
    """Everything a storefront or back office can read."""


@strawberry.type
class Mutation(
    IdentityMutation,
    GoodsMutation,
    TradeMutation,
    LimitsMutation,
    LogisticsMutation,
    MarketplaceMutation,
):
    """Everything that changes data. Each returns a payload with ``errors``."""


@strawberry.type
class Subscription(LogisticsSubscription):
    """Live updates, over graphql-transport-ws."""


NODE_TYPES = [
    Product,
    ProductVariant,
    Category,
    Warehouse,
    Shop,
    User,
    InventoryAdjustment,
    Order,
    Shipment,
]


class AgoraSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Expected errors (with a code) are answers, not incidents; ``ErrorCodes`` logs the
        unexpected ones with their trace and request id."""


def build_schema(settings: Settings | None = None) -> strawberry.Schema:
    """The schema. In prod, validation errors make no "Did you mean ...?" suggestions (they
    would spell out the schema that introspection keeps to the sandbox)."""
    settings = settings or Settings()
    return AgoraSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=NODE_TYPES,
        extensions=build_extensions(settings),
        config=StrawberryConfig(
            auto_camel_case=True, disable_field_suggestions=not settings.is_dev
        ),
    )
