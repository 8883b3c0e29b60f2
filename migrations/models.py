"""Every table Agora owns, imported in one place so that alembic sees one complete metadata."""

from __future__ import annotations

# The imports register each module's tables on the shared metadata; nothing else is used.
import app.events.models
import app.goods.models
import app.idempotency
import app.identity.models
import app.limits.overrides
import app.logistics.models
import app.logistics.shipment_models
import app.security.audit
import app.security.clients
import app.security.oauth.models
import app.security.rbac
import app.security.trusted_documents
import app.trade.models
import app.trade.order_models
import app.trade.payment_models
import marketplace.app_models
import marketplace.billing_models
import marketplace.extension_models
import marketplace.ledger_models
import marketplace.listing_models
import marketplace.models
import marketplace.payout_models
import marketplace.settlement_models
import marketplace.webhook_models
from app.db import Base

__all__ = ["metadata"]

metadata = Base.metadata
