"""The marketplace API: partners and tiers, apps and versions, listings and reviews, installs,
plans and billing, webhooks, the ledger, settlement and payouts."""

from __future__ import annotations

import strawberry

from schema.marketplace.apps import AppMutation, AppQuery
from schema.marketplace.billing import BillingMutation, BillingQuery
from schema.marketplace.installs import InstallMutation, InstallQuery
from schema.marketplace.listings import ListingMutation, ListingQuery
from schema.marketplace.partners import PartnerMutation, PartnerQuery
from schema.marketplace.payouts import PayoutMutation, PayoutQuery
from schema.marketplace.settlement import SettlementMutation, SettlementQuery
from schema.marketplace.webhooks import WebhookMutation, WebhookQuery

__all__ = ["MarketplaceMutation", "MarketplaceQuery"]


@strawberry.type
class MarketplaceQuery(
    PartnerQuery,
    AppQuery,
    InstallQuery,
    ListingQuery,
    BillingQuery,
    WebhookQuery,
    PayoutQuery,
    SettlementQuery,
):
    pass


@strawberry.type
class MarketplaceMutation(
    PartnerMutation,
    AppMutation,
    InstallMutation,
    ListingMutation,
    BillingMutation,
    WebhookMutation,
    PayoutMutation,
    SettlementMutation,
):
    pass
