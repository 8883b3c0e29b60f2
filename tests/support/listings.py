"""Listings made straight through the marketplace services: drafts, listings in review, and
published listings with plans, so a test starts from the listing it is about."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from marketplace import listings, plans
from marketplace.app_models import Installation, InstallationStatus
from marketplace.listing_models import Listing, PlanInterval, PlanKind
from marketplace.models import Decision, Partner, PartnerStatus, Tier, TierPolicy
from marketplace.plans import PlanDraft
from tests.support.factories import World, unique
from tests.support.marketplace import make_app, make_partner, member

__all__ = [
    "FREE",
    "MONTHLY",
    "RANKED",
    "SEEDED_BOOSTS",
    "Catalog",
    "Made",
    "Ranked",
    "approve",
    "draft_listing",
    "install",
    "published_listing",
    "ranked_catalog",
    "seeded_boosts",
    "set_partner_status",
    "set_stats",
    "slug",
    "submitted_listing",
]

FREE = PlanDraft("Free", PlanKind.FREE, "EUR")
MONTHLY = PlanDraft(
    "Pro", PlanKind.RECURRING, "EUR", amount=1900, interval=PlanInterval.MONTH, trial_days=14
)
PAID = PlanDraft("Paid", PlanKind.RECURRING, "EUR", amount=900, interval=PlanInterval.MONTH)
SEEDED_BOOSTS = {Tier.STANDARD: 0.0, Tier.ADVANCED: 0.5, Tier.STRATEGIC: 1.0}
FIRST_DAY = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Made:
    """A listing and the people around it."""

    listing_id: int
    slug: str
    app_id: int
    partner_id: int
    business_token: str
    plan_ids: tuple[int, ...] = ()


def slug(prefix: str = "app") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def _now() -> datetime:
    return datetime.now(UTC)


async def draft_listing(
    world: World,
    *,
    partner_id: int | None = None,
    tier: Tier = Tier.STANDARD,
    name: str = "Parcel Pilot",
    tagline: str = "Shipping labels in one click",
    description: str = "Prints labels for every carrier.",
    category: str = "shipping",
    plan_drafts: tuple[PlanDraft, ...] = (),
) -> Made:
    """A draft listing of a new app (of a new partner unless ``partner_id`` is given)."""
    if partner_id is None:
        partner_id, _ = await make_partner(world, tier=tier)
    _, business = await member(world, partner_id, "business")
    app, _ = await make_app(world, partner_id)
    content = listings.ListingContent(name, tagline, description, category)
    made_slug = slug()
    async with world.services.db.writer() as session, session.begin():
        change = await listings.create_listing(
            session, app_id=app.id, slug=made_slug, content=content, now=_now()
        )
        plan_ids = [
            (await plans.create_plan(session, change.listing.id, draft)).id for draft in plan_drafts
        ]
    return Made(change.listing.id, made_slug, app.id, partner_id, business, tuple(plan_ids))


async def submitted_listing(world: World, **kwargs: Any) -> Made:
    made = await draft_listing(world, **kwargs)
    async with world.services.db.writer() as session, session.begin():
        await listings.submit_listing(session, made.listing_id, _now())
    return made


async def approve(world: World, listing_id: int) -> None:
    """Submit the latest revision if it is a draft, then approve it as an admin would."""
    async with world.services.db.writer() as session, session.begin():
        change = await listings.submit_listing(session, listing_id, _now())
        await listings.review_revision(
            session, change.revision.id, Decision.APPROVE, notes="", reviewer="test", now=_now()
        )


async def published_listing(
    world: World, *, plan_drafts: tuple[PlanDraft, ...] = (FREE, MONTHLY), **kwargs: Any
) -> Made:
    """A listing approved and published, with plans (a free and a monthly one by default)."""
    made = await draft_listing(world, plan_drafts=plan_drafts, **kwargs)
    await approve(world, made.listing_id)
    async with world.services.db.writer() as session, session.begin():
        await listings.publish_listing(session, made.listing_id, _now())
    return made


async def install(
    world: World,
    app_id: int,
    shop_id: int | None = None,
    status: InstallationStatus = InstallationStatus.ACTIVE,
) -> None:
    """An installation of the app in the shop (the world's own by default), active unless
    ``status`` says otherwise."""
    async with world.services.db.writer() as session, session.begin():
        session.add(
            Installation(
                app_id=app_id,
                shop_id=shop_id or world.shop.id,
                status=status,
                activated_at=_now() if status is InstallationStatus.ACTIVE else None,
            )
        )


async def set_stats(
    world: World,
    listing_id: int,
    *,
    installs: int = 0,
    rating_sum: int = 0,
    rating_count: int = 0,
    published_at: datetime | None = None,
) -> None:
    """Ranking inputs set directly, as if that many shops had installed and rated the app."""
    values: dict[str, object] = {
        "installs": installs,
        "rating_sum": rating_sum,
        "rating_count": rating_count,
    }
    if published_at is not None:
        values["published_at"] = published_at
    async with world.services.db.writer() as session, session.begin():
        await session.execute(update(Listing).where(Listing.id == listing_id).values(**values))


async def set_partner_status(world: World, partner_id: int, status: PartnerStatus) -> None:
    async with world.services.db.writer() as session, session.begin():
        await session.execute(update(Partner).where(Partner.id == partner_id).values(status=status))


@dataclass(frozen=True)
class Ranked:
    """One app of the ranking data set, with the inputs the formula reads."""

    name: str
    tagline: str
    description: str
    tier: Tier
    installs: int
    rating_sum: int
    rating_count: int
    day: int  # published on FIRST_DAY + day
    plans: tuple[PlanDraft, ...]


# A fixed data set whose order each sort pins (worked out in test_listing_ranking.py).
RANKED = {
    "A": Ranked("Label Printer", "Print shipping labels", "Labels for all carriers",
                Tier.STANDARD, 100, 180, 40, 1, (FREE,)),
    "B": Ranked("Stock Sync", "Keeps stock right", "Prints a label per order",
                Tier.STANDARD, 1000, 0, 0, 2, (PAID,)),
    "C": Ranked("Review Booster", "More reviews", "Asks buyers politely",
                Tier.STANDARD, 5, 5, 1, 3, (FREE, PAID)),
    "D": Ranked("Label Lite", "Free labels", "",
                Tier.STRATEGIC, 0, 0, 0, 4, (FREE,)),
    "E": Ranked("Parcel Label Pro", "Parcels, fast", "One label each",
                Tier.ADVANCED, 10, 20, 4, 5, (PAID,)),
}  # fmt: skip


@dataclass(frozen=True)
class Catalog:
    """The data set as published: its own category, and listing and partner ids by key."""

    category: str
    ids: dict[str, int]
    partners: dict[str, int]
    slugs: dict[str, str]

    def keys(self, listing_ids: list[int]) -> list[str]:
        by_id = {pk: key for key, pk in self.ids.items()}
        return [by_id[pk] for pk in listing_ids]


@asynccontextmanager
async def seeded_boosts(world: World) -> AsyncIterator[None]:
    """The tier boosts as seeded, whatever another test left; put back afterwards."""
    async with world.services.db.writer() as session, session.begin():
        rows = await session.execute(select(TierPolicy.tier, TierPolicy.listing_boost))
        before = dict(rows.all())
        for tier, boost in SEEDED_BOOSTS.items():
            await session.execute(
                update(TierPolicy).where(TierPolicy.tier == tier).values(listing_boost=boost)
            )
    try:
        yield
    finally:
        async with world.services.db.writer() as session, session.begin():
            for tier, boost in before.items():
                await session.execute(
                    update(TierPolicy).where(TierPolicy.tier == tier).values(listing_boost=boost)
                )


async def ranked_catalog(world: World) -> Catalog:
    """RANKED, published by a partner of each app's tier in a category of their own."""
    catalog = Catalog(unique("rank"), {}, {}, {})
    for key, app in RANKED.items():
        made = await published_listing(
            world,
            name=app.name,
            tagline=app.tagline,
            description=app.description,
            category=catalog.category,
            tier=app.tier,
            plan_drafts=app.plans,
        )
        await set_stats(
            world,
            made.listing_id,
            installs=app.installs,
            rating_sum=app.rating_sum,
            rating_count=app.rating_count,
            published_at=FIRST_DAY + timedelta(days=app.day),
        )
        catalog.ids[key], catalog.partners[key] = made.listing_id, made.partner_id
        catalog.slugs[key] = made.slug
    return catalog
