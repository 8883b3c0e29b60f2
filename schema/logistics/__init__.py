"""The logistics API: rate tables, carriers, shipments, tracking and live updates."""

from __future__ import annotations

import strawberry

from schema.logistics.carriers import CarrierMutation, CarrierQuery
from schema.logistics.rates import RatesMutation, RatesQuery
from schema.logistics.shipments import ShipmentMutation, ShipmentQuery
from schema.logistics.subscriptions import ShipmentSubscription

__all__ = ["LogisticsMutation", "LogisticsQuery", "LogisticsSubscription"]


@strawberry.type
class LogisticsQuery(RatesQuery, CarrierQuery, ShipmentQuery):
    pass


@strawberry.type
class LogisticsMutation(RatesMutation, CarrierMutation, ShipmentMutation):
    pass


@strawberry.type
class LogisticsSubscription(ShipmentSubscription):
    pass
