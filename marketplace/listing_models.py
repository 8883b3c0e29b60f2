"""Listings, their revisions, pricing plans, and shops' reviews.

A listing's content lives in revisions. The one revision in state ``published`` is what the
public sees; an edit makes a new revision that goes through review while the published one stays
visible, and publishing it supersedes the old one. Ratings are
kept as running sums on the listing, so ranking reads them without aggregating reviews.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = [
    "Listing",
    "ListingRevision",
    "ListingStatus",
    "PlanInterval",
    "PlanKind",
    "PricingPlan",
    "Review",
    "RevisionStatus",
]


class ListingStatus(enum.StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"
    DELISTED = "delisted"


class RevisionStatus(enum.StrEnum):
    DRAFT = "draft"
    IN_REVIEW = "in_review"
    APPROVED = "approved"
    REJECTED = "rejected"
    PUBLISHED = "published"
    SUPERSEDED = "superseded"


class PlanKind(enum.StrEnum):
    FREE = "free"
    RECURRING = "recurring"
    USAGE = "usage"
    ONE_TIME = "one_time"


class PlanInterval(enum.StrEnum):
    MONTH = "month"
    YEAR = "year"


class Listing(Base):
    __tablename__ = "listings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"), index=True)
    partner_id: Mapped[int] = mapped_column(
        ForeignKey("partners.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[ListingStatus] = mapped_column(
        enum_column(ListingStatus, 16), default=ListingStatus.DRAFT
    )
    installs: Mapped[int] = mapped_column(default=0)
    rating_sum: Mapped[int] = mapped_column(default=0)
    rating_count: Mapped[int] = mapped_column(default=0)
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ListingRevision(Base):
    __tablename__ = "listing_revisions"
    __table_args__ = (UniqueConstraint("listing_id", "number"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    name: Mapped[str] = mapped_column(String(120))
    tagline: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    screenshots: Mapped[list[str]] = mapped_column(JSON, default=list)
    support_url: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[RevisionStatus] = mapped_column(
        enum_column(RevisionStatus, 16), default=RevisionStatus.DRAFT
    )
    review_notes: Mapped[str] = mapped_column(Text, default="")
    reviewed_by: Mapped[str] = mapped_column(String(120), default="")
    submitted_at: Mapped[datetime | None]
    reviewed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PricingPlan(Base):
    __tablename__ = "pricing_plans"
    __table_args__ = (
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("trial_days >= 0", name="trial_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[PlanKind] = mapped_column(enum_column(PlanKind, 16))
    # recurring / one-time: the price; usage: the unit price. Minor units of ``currency``.
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3))
    interval: Mapped[PlanInterval | None] = mapped_column(enum_column(PlanInterval, 16))
    trial_days: Mapped[int] = mapped_column(default=0)
    # usage: the most a shop pays per period, in minor units (None: no cap).
    usage_cap: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Review(Base):
    __tablename__ = "listing_reviews"
    __table_args__ = (
        UniqueConstraint("listing_id", "shop_id"),
        CheckConstraint("rating >= 1 AND rating <= 5", name="rating_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    listing_id: Mapped[int] = mapped_column(
        ForeignKey("listings.id", ondelete="CASCADE"), index=True
    )
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    rating: Mapped[int]
    text: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
