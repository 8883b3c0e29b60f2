"""Apps, their versions, and their installations in shops.

An app is one OAuth client (``oauth_clients``) owned by a partner. Each version carries a
manifest with its endpoint URLs; a rollout percentage decides which installations use it. An
installation is created pending by the merchant's install request and becomes active when the
app redeems the authorization code; its ``bucket`` (0-99, a stable hash of its id) is what the
rollout percentage is compared with.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = ["App", "AppStatus", "AppVersion", "Installation", "InstallationStatus"]


class AppStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class InstallationStatus(enum.StrEnum):
    PENDING = "pending"
    ACTIVE = "active"
    UNINSTALLED = "uninstalled"


class App(Base):
    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(
        ForeignKey("oauth_clients.client_id", ondelete="CASCADE"), unique=True
    )
    sandbox_shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="SET NULL"))
    # Signs the webhooks Agora sends the app; sealed with the data keyring. None for an app
    # registered before webhooks existed, until its developer rotates one in.
    webhook_secret: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[AppStatus] = mapped_column(enum_column(AppStatus, 16), default=AppStatus.ACTIVE)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AppVersion(Base):
    __tablename__ = "app_versions"
    __table_args__ = (
        UniqueConstraint("app_id", "version"),
        CheckConstraint("rollout_percent >= 0 AND rollout_percent <= 100", name="rollout_in_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    # (major, minor, patch) for ordering; pre-release versions sort before their release.
    major: Mapped[int]
    minor: Mapped[int]
    patch: Mapped[int]
    prerelease: Mapped[str] = mapped_column(String(64), default="")
    changelog: Mapped[str] = mapped_column(Text, default="")
    # {"app_url": ..., "webhook_url": ..., "extensions": {"shipping.rates": url, ...}}
    manifest: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    rollout_percent: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Installation(Base):
    __tablename__ = "installations"
    __table_args__ = (Index("ix_installations_app_shop", "app_id", "shop_id", "status"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    listing_id: Mapped[int | None] = mapped_column(ForeignKey("listings.id", ondelete="SET NULL"))
    plan_id: Mapped[int | None] = mapped_column(ForeignKey("pricing_plans.id", ondelete="SET NULL"))
    status: Mapped[InstallationStatus] = mapped_column(
        enum_column(InstallationStatus, 16), default=InstallationStatus.PENDING
    )
    bucket: Mapped[int] = mapped_column(default=0)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # The scopes the merchant granted, as the app's code redemption carried them.
    granted_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    requested_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None]
    uninstalled_at: Mapped[datetime | None]
