"""Bulk reads behind the marketplace's GraphQL loaders: one statement per relation and page.

Each takes the keys of a whole page and returns a dict by key, so a page of any size costs the
same number of statements.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.identity.models import Shop
from app.pagination import KeysetOrder, Page, PageRequest, fetch_page
from marketplace.listing_models import (
    Listing,
    ListingRevision,
    PricingPlan,
    Review,
    RevisionStatus,
)
from marketplace.models import Partner
from marketplace.ranking import visible_listings

__all__ = [
    "REVIEW_QUEUE_ORDER",
    "ShopReview",
    "active_plans",
    "listings_by_id",
    "partners_by_id",
    "published_revisions",
    "recent_reviews",
    "review_queue",
    "visible_listing_by_slug",
    "visible_listings_by_id",
]

ShopReview = tuple[Review, str]
"""A review and the name of the shop that wrote it."""

REVIEW_QUEUE_ORDER = KeysetOrder(
    "listing-review-queue",
    ListingRevision.submitted_at,
    ListingRevision.id,
    False,
    datetime.fromisoformat,
)
"""Oldest submission first: the queue is worked in the order partners asked."""


async def visible_listing_by_slug(session: AsyncSession, slug: str) -> Listing | None:
    return await session.scalar(visible_listings().where(Listing.slug == slug))


async def visible_listings_by_id(session: AsyncSession, pks: Sequence[int]) -> dict[int, Listing]:
    rows = await session.scalars(visible_listings().where(Listing.id.in_(pks)))
    return {row.id: row for row in rows}


async def listings_by_id(session: AsyncSession, pks: Sequence[int]) -> dict[int, Listing]:
    rows = await session.scalars(select(Listing).where(Listing.id.in_(pks)))
    return {row.id: row for row in rows}


async def published_revisions(
    session: AsyncSession, listing_pks: Sequence[int]
) -> dict[int, ListingRevision]:
    rows = await session.scalars(
        select(ListingRevision).where(
            ListingRevision.listing_id.in_(listing_pks),
            ListingRevision.status == RevisionStatus.PUBLISHED,
        )
    )
    return {row.listing_id: row for row in rows}


async def partners_by_id(session: AsyncSession, pks: Sequence[int]) -> dict[int, Partner]:
    rows = await session.scalars(select(Partner).where(Partner.id.in_(pks)))
    return {row.id: row for row in rows}


async def active_plans(
    session: AsyncSession, listing_pks: Sequence[int]
) -> dict[int, list[PricingPlan]]:
    """Each listing's plans on offer, cheapest first."""
    rows = await session.scalars(
        select(PricingPlan)
        .where(PricingPlan.listing_id.in_(listing_pks), PricingPlan.active.is_(True))
        .order_by(PricingPlan.listing_id, PricingPlan.amount, PricingPlan.id)
    )
    found: dict[int, list[PricingPlan]] = defaultdict(list)
    for row in rows:
        found[row.listing_id].append(row)
    return found


async def recent_reviews(
    session: AsyncSession, keys: Sequence[tuple[int, int]]
) -> dict[tuple[int, int], list[ShopReview]]:
    """For each (listing, n): its n latest reviews, newest first, for all keys in one statement.

    The window function numbers each listing's reviews, so a page of listings never costs a
    statement per listing.
    """
    if not keys:
        return {}
    most = max(n for _, n in keys)
    position = (
        func.row_number()
        .over(
            partition_by=Review.listing_id,
            order_by=(Review.created_at.desc(), Review.id.desc()),
        )
        .label("position")
    )
    ranked = (
        select(Review.id, position).where(Review.listing_id.in_({pk for pk, _ in keys})).subquery()
    )
    rows = await session.execute(
        select(Review, Shop.name, ranked.c.position)
        .join(ranked, ranked.c.id == Review.id)
        .join(Shop, Shop.id == Review.shop_id)
        .where(ranked.c.position <= most)
        .order_by(Review.listing_id, ranked.c.position)
    )
    by_listing: dict[int, list[tuple[int, ShopReview]]] = defaultdict(list)
    for review, shop_name, place in rows:
        by_listing[review.listing_id].append((place, (review, shop_name)))
    return {
        (pk, n): [item for place, item in by_listing.get(pk, []) if place <= n] for pk, n in keys
    }


async def review_queue(session: AsyncSession, request: PageRequest) -> Page[Any]:
    """Revisions waiting for a community admin's decision."""
    query = select(ListingRevision).where(ListingRevision.status == RevisionStatus.IN_REVIEW)
    return await fetch_page(session, query, REVIEW_QUEUE_ORDER, request)
