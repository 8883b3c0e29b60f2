"""An app's webhook subscriptions: which topics it wants, in which payload version.

A subscription belongs to the app, not to one shop: each event is offered to it in every shop
where the app is installed and was granted the topic's scope, at the webhook URL of the
version that installation is assigned.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow

__all__ = ["WebhookSubscription"]


class WebhookSubscription(Base):
    __tablename__ = "webhook_subscriptions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    topics: Mapped[list[str]] = mapped_column(JSON)
    payload_version: Mapped[int]
    # "user:12" or "app:<client_id>": who created it, for the partner's own records.
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
