"""Role-matrix rows for listings, pricing plans and reviews, for tests/schema/test_role_matrix.py.

Listing and plan writes are the partner's business role (which its owner holds too); each
builder makes its listing through ``make_partner``, so ``world.partner_id`` names the partner
whose roles the matrix grants. Review decisions and the queue are community_admin's. Shops'
reviews are the shop's business role; their builders install the app in the world's shop, so
an allowed cell really writes its review.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from marketplace.reviews import create_review
from tests.support.factories import World, gid
from tests.support.listings import (
    FREE,
    approve,
    draft_listing,
    install,
    published_listing,
    slug,
    submitted_listing,
)
from tests.support.marketplace import make_app, make_partner

__all__ = ["LISTING_ROWS"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]
PARTNER_BUSINESS = frozenset({"owner", "partner_business"})
ADMIN = frozenset({"community_admin"})
SHOP_STAFF = frozenset({"business"})
FREE_PLAN = {"name": "Free", "kind": "FREE", "price": {"amount": "0", "currencyCode": "EUR"}}


async def listing_create(world: World) -> Request:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    query = "mutation($a: ID!, $i: ListingCreateInput!) { listingCreate(appId: $a, input: $i) { errors { code } } }"
    content = {"slug": slug(), "name": "Matrix", "category": "tools"}
    return query, {"a": gid("App", app.id), "i": content}


async def listing_update(world: World) -> Request:
    made = await draft_listing(world)
    query = 'mutation($l: ID!) { listingUpdate(listingId: $l, input: {name: "Renamed"}) { errors { code } } }'
    return query, {"l": gid("Listing", made.listing_id)}


async def listing_submit(world: World) -> Request:
    made = await draft_listing(world)
    query = "mutation($l: ID!) { listingSubmit(listingId: $l) { errors { code } } }"
    return query, {"l": gid("Listing", made.listing_id)}


async def listing_publish(world: World) -> Request:
    made = await draft_listing(world)
    await approve(world, made.listing_id)
    query = "mutation($l: ID!) { listingPublish(listingId: $l) { errors { code } } }"
    return query, {"l": gid("Listing", made.listing_id)}


async def listing_delist(world: World) -> Request:
    made = await published_listing(world)
    query = "mutation($l: ID!) { listingDelist(listingId: $l) { errors { code } } }"
    return query, {"l": gid("Listing", made.listing_id)}


async def listing_review(world: World) -> Request:
    made = await submitted_listing(world)
    query = (
        "mutation($l: ID!) { listingReview(listingId: $l, decision: APPROVE) { errors { code } } }"
    )
    return query, {"l": gid("Listing", made.listing_id)}


async def listing_review_queue(world: World) -> Request:
    await submitted_listing(world)
    return "{ listingReviewQueue(first: 1) { nodes { id slug } } }", {}


async def pricing_plan_create(world: World) -> Request:
    made = await draft_listing(world)
    query = "mutation($l: ID!, $i: PricingPlanInput!) { pricingPlanCreate(listingId: $l, input: $i) { errors { code } } }"
    return query, {"l": gid("Listing", made.listing_id), "i": FREE_PLAN}


async def pricing_plan_update(world: World) -> Request:
    made = await draft_listing(world, plan_drafts=(FREE,))
    query = "mutation($p: ID!, $i: PricingPlanInput!) { pricingPlanUpdate(planId: $p, input: $i) { errors { code } } }"
    return query, {"p": gid("PricingPlan", made.plan_ids[0]), "i": FREE_PLAN | {"name": "Gratis"}}


async def pricing_plan_archive(world: World) -> Request:
    made = await draft_listing(world, plan_drafts=(FREE,))
    query = "mutation($p: ID!) { pricingPlanArchive(planId: $p) { errors { code } } }"
    return query, {"p": gid("PricingPlan", made.plan_ids[0])}


async def listing_review_create(world: World) -> Request:
    made = await published_listing(world)
    await install(world, made.app_id)
    query = 'mutation($l: ID!) { listingReviewCreate(listingId: $l, rating: 5, text: "Great") { errors { code } } }'
    return query, {"l": gid("Listing", made.listing_id)}


async def listing_review_update(world: World) -> Request:
    made = await published_listing(world)
    await install(world, made.app_id)
    async with world.services.db.writer() as session, session.begin():
        await create_review(
            session,
            made.listing_id,
            world.shop.id,
            rating=3,
            text="Fine",
            author="test",
            now=datetime.now(UTC),
        )
    query = 'mutation($l: ID!) { listingReviewUpdate(listingId: $l, rating: 4, text: "Better") { errors { code } } }'
    return query, {"l": gid("Listing", made.listing_id)}


# None: everyone may call it (not privileged); otherwise the roles that may.
LISTING_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.listingCreate": (PARTNER_BUSINESS, listing_create),
    "Mutation.listingUpdate": (PARTNER_BUSINESS, listing_update),
    "Mutation.listingSubmit": (PARTNER_BUSINESS, listing_submit),
    "Mutation.listingPublish": (PARTNER_BUSINESS, listing_publish),
    "Mutation.listingDelist": (PARTNER_BUSINESS, listing_delist),
    "Mutation.listingReview": (ADMIN, listing_review),
    "Query.listingReviewQueue": (ADMIN, listing_review_queue),
    "Mutation.pricingPlanCreate": (PARTNER_BUSINESS, pricing_plan_create),
    "Mutation.pricingPlanUpdate": (PARTNER_BUSINESS, pricing_plan_update),
    "Mutation.pricingPlanArchive": (PARTNER_BUSINESS, pricing_plan_archive),
    "Mutation.listingReviewCreate": (SHOP_STAFF, listing_review_create),
    "Mutation.listingReviewUpdate": (SHOP_STAFF, listing_review_update),
}
