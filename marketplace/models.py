"""Partners and the tiers they belong to.

Tier policy is data, not code: one row per tier, seeded with DESIGN.md's table and changed only
by community admins. Every tier change a partner goes through is kept in ``partner_tier_changes``
so that revenue share can be judged by the tier at earning time, and people can see why.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = [
    "ApplicationStatus",
    "Decision",
    "MemberRole",
    "Partner",
    "PartnerStatus",
    "PartnerTierChange",
    "Tier",
    "TierApplication",
    "TierPolicy",
]


class Tier(enum.StrEnum):
    STANDARD = "standard"
    ADVANCED = "advanced"
    STRATEGIC = "strategic"


class PartnerStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class ApplicationStatus(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


class Decision(enum.StrEnum):
    """A reviewer's verdict on a tier application or a listing revision."""

    APPROVE = "approve"
    REJECT = "reject"


class MemberRole(enum.StrEnum):
    """The roles an owner hands to the partner's people (owner itself is the registrant's)."""

    DEVELOPER = "developer"
    BUSINESS = "business"


class TierPolicy(Base):
    __tablename__ = "tier_policies"
    __table_args__ = (
        CheckConstraint("share_bps >= 0 AND share_bps <= 10000", name="share_in_range"),
        CheckConstraint("rate > 0 AND burst >= 1", name="rate_positive"),
    )

    tier: Mapped[Tier] = mapped_column(enum_column(Tier, 16), primary_key=True)
    rate: Mapped[float]
    burst: Mapped[int]
    # None: unlimited.
    daily_calls: Mapped[int | None]
    cost_max: Mapped[int]
    cost_restore: Mapped[float]
    max_apps: Mapped[int | None]
    share_bps: Mapped[int]
    allowed_scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    listing_boost: Mapped[float] = mapped_column(default=0.0)
    # Shedding order under overload: 0 first, 2 last.
    priority: Mapped[int] = mapped_column(default=0)
    concurrency: Mapped[int] = mapped_column(default=16)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    sealed_contact_email: Mapped[str] = mapped_column(Text)
    website: Mapped[str] = mapped_column(String(500), default="")
    tier: Mapped[Tier] = mapped_column(enum_column(Tier, 16), default=Tier.STANDARD)
    status: Mapped[PartnerStatus] = mapped_column(
        enum_column(PartnerStatus, 16), default=PartnerStatus.ACTIVE
    )
    created_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class PartnerTierChange(Base):
    __tablename__ = "partner_tier_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    from_tier: Mapped[Tier | None] = mapped_column(enum_column(Tier, 16))
    to_tier: Mapped[Tier] = mapped_column(enum_column(Tier, 16))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(120))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TierApplication(Base):
    __tablename__ = "tier_applications"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    target_tier: Mapped[Tier] = mapped_column(enum_column(Tier, 16))
    evidence: Mapped[str] = mapped_column(Text)
    status: Mapped[ApplicationStatus] = mapped_column(
        enum_column(ApplicationStatus, 16), default=ApplicationStatus.PENDING
    )
    notes: Mapped[str] = mapped_column(Text, default="")
    submitted_by: Mapped[str] = mapped_column(String(120))
    reviewed_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
