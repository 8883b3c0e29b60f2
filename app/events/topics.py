"""The event topics a shop's changes produce, and the outbox payload format.

Topics are ``resource/verb`` like Shopify's. The payload stored in the outbox is Agora's own
(internal ids, minor units) at ``STORED_VERSION``; what a subscriber receives is rendered from
it at the payload version the subscription names, by the renderer the composition root wires.
"""

from __future__ import annotations

import enum

__all__ = ["STORED_VERSION", "Topic"]

STORED_VERSION = 1


class Topic(enum.StrEnum):
    ORDERS_CREATED = "orders/created"
    ORDERS_PAID = "orders/paid"
    ORDERS_CANCELLED = "orders/cancelled"
    ORDERS_REFUNDED = "orders/refunded"
    SHIPMENTS_CREATED = "shipments/created"
    SHIPMENTS_UPDATED = "shipments/updated"
    INVENTORY_BELOW_THRESHOLD = "inventory/below_threshold"
    PRODUCTS_UPDATED = "products/updated"
    APPS_INSTALLED = "apps/installed"
    APPS_UNINSTALLED = "apps/uninstalled"
