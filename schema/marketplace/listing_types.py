"""The public face of the marketplace: listings, their plans and reviews, and their loaders.

Content fields are plain attributes taken from the published revision, which the listing
resolvers load for the whole page at once; every relation (partner, plans, reviews) is an
async field over a per-request ``ListingLoaders``, so a page costs one statement per relation
whatever its size. The loaders live on the request context, created on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.db import SessionFactory
from marketplace import listing_models as lm
from marketplace import listing_reads as reads
from marketplace.models import Partner
from marketplace.ranking import ListingSort, PricingFilter, bayesian_rating
from schema.loaders import bulk_loader
from schema.marketplace.partner_types import TierEnum
from schema.money import Money
from schema.node import Node, encode_id

__all__ = [
    "ListingPartner",
    "ListingReview",
    "ListingRevision",
    "ListingSortEnum",
    "MarketplaceListing",
    "PricingFilterEnum",
    "PricingPlan",
    "PricingPlanIntervalEnum",
    "PricingPlanKindEnum",
    "listing_loaders",
    "listing_nodes",
    "visible_listing_nodes",
]

ListingSortEnum = strawberry.enum(ListingSort, name="MarketplaceListingSort")
PricingFilterEnum = strawberry.enum(PricingFilter, name="MarketplaceListingPricing")
PricingPlanKindEnum = strawberry.enum(lm.PlanKind, name="PricingPlanKind")
PricingPlanIntervalEnum = strawberry.enum(lm.PlanInterval, name="PricingPlanInterval")
ListingStatusEnum = strawberry.enum(lm.ListingStatus, name="ListingStatus")
RevisionStatusEnum = strawberry.enum(lm.RevisionStatus, name="ListingRevisionStatus")
MAX_REVIEWS = 20


class ListingLoaders:
    """One per request; every loader opens its own short session."""

    def __init__(self, reader: SessionFactory) -> None:
        self.revision: DataLoader[int, lm.ListingRevision | None] = bulk_loader(
            reader, reads.published_revisions, lambda: None
        )
        self.listing: DataLoader[int, lm.Listing | None] = bulk_loader(
            reader, reads.listings_by_id, lambda: None
        )
        self.partner: DataLoader[int, Partner | None] = bulk_loader(
            reader, reads.partners_by_id, lambda: None
        )
        self.plans: DataLoader[int, list[lm.PricingPlan]] = bulk_loader(
            reader, reads.active_plans, list
        )
        self.reviews: DataLoader[tuple[int, int], list[reads.ShopReview]] = bulk_loader(
            reader, reads.recent_reviews, list
        )


def listing_loaders(info: Info) -> ListingLoaders:
    """The request's listing loaders, kept in the context's own attributes."""
    store = vars(info.context)
    loaders = store.get("listing_loaders")
    if loaders is None:
        loaders = store["listing_loaders"] = ListingLoaders(info.context.db.reader)
    return loaders  # type: ignore[no-any-return]


@strawberry.type(description="The partner behind a listing, as the public sees it.")
class ListingPartner:
    id: strawberry.ID
    name: str
    tier: TierEnum  # type: ignore[valid-type]

    @classmethod
    def of(cls, row: Partner) -> ListingPartner:
        return cls(id=encode_id("Partner", row.id), name=row.name, tier=row.tier)


@strawberry.type(description="What a shop pays for an app. Amounts are in the plan's currency.")
class PricingPlan(Node):
    name: str
    kind: PricingPlanKindEnum  # type: ignore[valid-type]
    price: Money = strawberry.field(
        description="Recurring: per period; usage: per unit; one-time: once; free: zero."
    )
    interval: PricingPlanIntervalEnum | None = strawberry.field(  # type: ignore[valid-type]
        description="Recurring: the billing period; usage: the period the cap applies to."
    )
    trial_days: int
    usage_cap: Money | None = strawberry.field(description="Usage: the most a period costs.")
    active: bool

    @classmethod
    def of(cls, row: lm.PricingPlan) -> PricingPlan:
        return cls(
            id=encode_id("PricingPlan", row.id),
            name=row.name,
            kind=row.kind,
            price=Money.of(row.amount, row.currency),
            interval=row.interval,
            trial_days=row.trial_days,
            usage_cap=Money.of(row.usage_cap, row.currency) if row.usage_cap is not None else None,
            active=row.active,
        )


@strawberry.type(description="A shop's review of an app it has installed.")
class ListingReview(Node):
    rating: int
    text: str
    shop_name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: lm.Review, shop_name: str) -> ListingReview:
        return cls(
            id=encode_id("ListingReview", row.id),
            rating=row.rating,
            text=row.text,
            shop_name=shop_name,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(
    description="An app in the marketplace, with the content of its published revision."
)
class MarketplaceListing(Node):
    slug: str
    status: ListingStatusEnum  # type: ignore[valid-type]
    name: str
    tagline: str
    description: str
    category: str
    screenshots: list[str]
    support_url: str
    rating: float = strawberry.field(
        description="The Bayesian average of the ratings: (5 * 3.5 + sum) / (5 + count)."
    )
    rating_count: int
    installs: int
    published_at: datetime | None
    pk: strawberry.Private[int]
    partner_pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: lm.Listing, content: lm.ListingRevision) -> MarketplaceListing:
        return cls(
            id=encode_id("Listing", row.id),
            slug=row.slug,
            status=row.status,
            name=content.name,
            tagline=content.tagline,
            description=content.description,
            category=content.category,
            screenshots=list(content.screenshots),
            support_url=content.support_url,
            rating=bayesian_rating(row.rating_sum, row.rating_count),
            rating_count=row.rating_count,
            installs=row.installs,
            published_at=row.published_at,
            pk=row.id,
            partner_pk=row.partner_id,
        )

    @strawberry.field
    async def partner(self, info: Info) -> ListingPartner | None:
        row = await listing_loaders(info).partner.load(self.partner_pk)
        return ListingPartner.of(row) if row is not None else None

    @strawberry.field(description="The plans on offer, cheapest first.")
    async def plans(self, info: Info) -> list[PricingPlan]:
        return [PricingPlan.of(row) for row in await listing_loaders(info).plans.load(self.pk)]

    @strawberry.field(description=f"The latest reviews, newest first; at most {MAX_REVIEWS}.")
    async def reviews(self, info: Info, first: int = 5) -> list[ListingReview]:
        count = min(max(first, 0), MAX_REVIEWS)
        if count == 0:
            return []
        found = await listing_loaders(info).reviews.load((self.pk, count))
        return [ListingReview.of(review, shop) for review, shop in found]


@strawberry.type(description="One version of a listing's content, as it goes through review.")
class ListingRevision(Node):
    number: int
    status: RevisionStatusEnum  # type: ignore[valid-type]
    name: str
    tagline: str
    description: str
    category: str
    screenshots: list[str]
    support_url: str
    review_notes: str
    submitted_at: datetime | None
    reviewed_at: datetime | None
    listing_id: strawberry.ID
    listing_pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: lm.ListingRevision) -> ListingRevision:
        return cls(
            id=encode_id("ListingRevision", row.id),
            number=row.number,
            status=row.status,
            name=row.name,
            tagline=row.tagline,
            description=row.description,
            category=row.category,
            screenshots=list(row.screenshots),
            support_url=row.support_url,
            review_notes=row.review_notes,
            submitted_at=row.submitted_at,
            reviewed_at=row.reviewed_at,
            listing_id=encode_id("Listing", row.listing_id),
            listing_pk=row.listing_id,
        )

    @strawberry.field(description="The listing's slug, its address in the marketplace.")
    async def slug(self, info: Info) -> str:
        row = await listing_loaders(info).listing.load(self.listing_pk)
        return row.slug if row is not None else ""

    @strawberry.field
    async def partner(self, info: Info) -> ListingPartner | None:
        loaders = listing_loaders(info)
        listing = await loaders.listing.load(self.listing_pk)
        row = await loaders.partner.load(listing.partner_id) if listing is not None else None
        return ListingPartner.of(row) if row is not None else None


async def listing_nodes(
    info: Info, rows: Sequence[lm.Listing], fallback: lm.ListingRevision | None = None
) -> list[MarketplaceListing]:
    """Listings with their published content, loaded for all rows at once. ``fallback`` is
    the content of a listing that was never published (a mutation's own draft)."""
    revisions = await listing_loaders(info).revision.load_many([row.id for row in rows])
    nodes = []
    for row, revision in zip(rows, revisions, strict=True):
        content = revision or fallback
        if content is not None:
            nodes.append(MarketplaceListing.of(row, content))
    return nodes


async def visible_listing_nodes(info: Info, pks: list[int]) -> dict[int, MarketplaceListing]:
    """Public listings by key, for ``node(id:)``: anything not public resolves to nothing."""
    async with info.context.db.reader() as session:
        rows = await reads.visible_listings_by_id(session, pks)
    return {node.pk: node for node in await listing_nodes(info, list(rows.values()))}
