"""Failed extension calls, recorded for the partner and ops.

The shopper never sees these: the flow went on with Agora's built-in answer. The record is
how a partner finds out that its extension timed out, broke, or answered something Agora
could not accept, and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId

__all__ = ["ExtensionFailure"]


class ExtensionFailure(Base):
    __tablename__ = "extension_failures"
    __table_args__ = (Index("ix_extension_failures_app", "app_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    point: Mapped[str] = mapped_column(String(40))
    # timeout, connection, http_status, malformed, circuit_open, refused_url, too_large
    kind: Mapped[str] = mapped_column(String(24))
    detail: Mapped[str] = mapped_column(Text, default="")
    occurred_at: Mapped[datetime]
