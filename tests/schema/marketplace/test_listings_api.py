"""Listings through HTTP: a partner's business user writes and publishes, an admin reviews, the
public browses; revisions keep the public content until a new one is published."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.security.audit import AuditEvent
from marketplace.listing_models import ListingRevision
from marketplace.models import PartnerStatus
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.listings import (
    draft_listing,
    published_listing,
    set_partner_status,
    slug,
    submitted_listing,
)
from tests.support.marketplace import make_app, make_partner, member

pytestmark = pytest.mark.anyio

LISTING_FIELDS = "listing { id slug status name publishedAt } revision { id number status reviewNotes } errors { code field message }"
CREATE = f"mutation($app: ID!, $input: ListingCreateInput!) {{ listingCreate(appId: $app, input: $input) {{ {LISTING_FIELDS} }} }}"
UPDATE = f"mutation($id: ID!, $input: ListingUpdateInput!) {{ listingUpdate(listingId: $id, input: $input) {{ {LISTING_FIELDS} }} }}"
SUBMIT = f"mutation($id: ID!) {{ listingSubmit(listingId: $id) {{ {LISTING_FIELDS} }} }}"
PUBLISH = f"mutation($id: ID!) {{ listingPublish(listingId: $id) {{ {LISTING_FIELDS} }} }}"
DELIST = f"mutation($id: ID!) {{ listingDelist(listingId: $id) {{ {LISTING_FIELDS} }} }}"
REVIEW = f"mutation($id: ID!, $d: ReviewDecision!, $notes: String!) {{ listingReview(listingId: $id, decision: $d, notes: $notes) {{ {LISTING_FIELDS} }} }}"
QUEUE = "{ listingReviewQueue(first: 100) { nodes { id slug status name partner { name } } } }"
PLAN_CREATE = "mutation($id: ID!, $input: PricingPlanInput!) { pricingPlanCreate(listingId: $id, input: $input) { pricingPlan { id name kind price { amount currencyCode } interval trialDays usageCap { amount } } errors { code field } } }"
ONE = "query($slug: String!) { listing(slug: $slug) { slug name tagline rating installs partner { name tier } plans { name kind price { amount currencyCode } interval trialDays } } }"
BROWSE = (
    "query($c: String) { marketplaceListings(first: 50, category: $c) { nodes { slug name } } }"
)


class Desk:
    """The people a listing meets: its partner's business user and a community admin."""

    def __init__(
        self, world: World, gql: GraphQLClient, partner: int, business: str, admin: str
    ) -> None:
        self.world, self.gql, self.partner = world, gql, partner
        self.business, self.admin = business, admin

    async def as_business(self, query: str, **variables: Any) -> dict[str, Any]:
        return (await self.gql(query, variables, token=self.business)).ok()

    async def as_admin(self, query: str, **variables: Any) -> dict[str, Any]:
        return (await self.gql(query, variables, token=self.admin)).ok()

    async def public(self, query: str, **variables: Any) -> dict[str, Any]:
        return (await self.gql(query, variables)).ok()


@pytest.fixture
async def desk(world: World, gql: GraphQLClient) -> Desk:
    partner, _ = await make_partner(world)
    _, business = await member(world, partner, "business")
    _, admin = await world.user("community_admin", domain="platform")
    return Desk(world, gql, partner, business, admin)


def _content(
    made_slug: str, category: str = "shipping", name: str = "Parcel Pilot"
) -> dict[str, Any]:
    return {
        "slug": made_slug,
        "name": name,
        "tagline": "Labels in one click",
        "description": "Prints labels for every carrier.",
        "category": category,
        "screenshots": ["https://img.example/1.png"],
        "supportUrl": "https://help.example",
    }


async def _audit_trail(world: World, target: str) -> list[tuple[str, str, str]]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(
            select(AuditEvent).where(AuditEvent.target_id == target).order_by(AuditEvent.id)
        )
        return [(row.action, str(row.outcome), row.domain) for row in rows]


async def test_a_listing_goes_from_draft_through_review_to_the_marketplace(desk: Desk) -> None:
    # Given a partner's app
    app, _ = await make_app(desk.world, desk.partner)
    made_slug = slug()
    category = made_slug  # a category of its own, so the browse sees only this listing
    # When the business user creates the listing, it is a draft nobody else sees
    created = (
        await desk.as_business(CREATE, app=gid("App", app.id), input=_content(made_slug, category))
    )["listingCreate"]
    assert created["errors"] == []
    assert created["listing"]["status"] == "DRAFT"
    assert created["revision"] == {
        "id": created["revision"]["id"],
        "number": 1,
        "status": "DRAFT",
        "reviewNotes": "",
    }
    listing_id = created["listing"]["id"]
    assert (await desk.public(ONE, slug=made_slug))["listing"] is None
    plan = {
        "name": "Pro",
        "kind": "RECURRING",
        "price": {"amount": "19.00", "currencyCode": "EUR"},
        "interval": "MONTH",
        "trialDays": 14,
    }
    planned = (await desk.as_business(PLAN_CREATE, id=listing_id, input=plan))["pricingPlanCreate"]
    assert planned["errors"] == [] and planned["pricingPlan"]["price"] == {
        "amount": "19.00",
        "currencyCode": "EUR",
    }
    # Publishing before review is refused
    refused = (await desk.as_business(PUBLISH, id=listing_id))["listingPublish"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_APPROVED"]
    # When it is submitted, the admin finds it in the queue and approves it
    submitted = (await desk.as_business(SUBMIT, id=listing_id))["listingSubmit"]
    assert submitted["revision"]["status"] == "IN_REVIEW"
    queue = (await desk.as_admin(QUEUE))["listingReviewQueue"]["nodes"]
    assert [n["slug"] for n in queue if n["slug"] == made_slug] == [made_slug]
    approved = (await desk.as_admin(REVIEW, id=listing_id, d="APPROVE", notes="Looks good"))[
        "listingReview"
    ]
    assert approved["errors"] == [] and approved["revision"]["status"] == "APPROVED"
    assert made_slug not in [
        n["slug"] for n in (await desk.as_admin(QUEUE))["listingReviewQueue"]["nodes"]
    ]
    # And the partner publishes it: now the public sees it with its plan and partner
    published = (await desk.as_business(PUBLISH, id=listing_id))["listingPublish"]
    assert published["errors"] == [] and published["listing"]["status"] == "PUBLISHED"
    assert published["listing"]["publishedAt"] is not None
    shown = (await desk.public(ONE, slug=made_slug))["listing"]
    assert shown["name"] == "Parcel Pilot" and shown["rating"] == 3.5 and shown["installs"] == 0
    assert shown["partner"]["tier"] == "STANDARD"
    assert shown["plans"] == [
        {
            "name": "Pro",
            "kind": "RECURRING",
            "price": {"amount": "19.00", "currencyCode": "EUR"},
            "interval": "MONTH",
            "trialDays": 14,
        }
    ]
    assert [
        n["slug"] for n in (await desk.public(BROWSE, c=category))["marketplaceListings"]["nodes"]
    ] == [made_slug]
    # Every privileged change left its audit record, in the partner's domain or the platform's
    trail = await _audit_trail(desk.world, listing_id)
    partner_domain = f"partner:{desk.partner}"
    assert trail == [
        ("listingCreate", "allowed", partner_domain),
        ("listingSubmit", "allowed", partner_domain),
        ("listingPublish", "allowed", partner_domain),
    ]
    assert await _audit_trail(desk.world, approved["revision"]["id"]) == [
        ("listingReview", "allowed", "platform")
    ]


async def test_a_second_review_of_the_same_revision_is_already_decided(desk: Desk) -> None:
    made = await submitted_listing(desk.world, partner_id=desk.partner)
    listing_id = gid("Listing", made.listing_id)
    first = (await desk.as_admin(REVIEW, id=listing_id, d="REJECT", notes="Screenshots missing"))[
        "listingReview"
    ]
    assert first["revision"]["status"] == "REJECTED"
    assert first["revision"]["reviewNotes"] == "Screenshots missing"
    again = (await desk.as_admin(REVIEW, id=listing_id, d="APPROVE", notes=""))["listingReview"]
    assert [e["code"] for e in again["errors"]] == ["ALREADY_DECIDED"]
    # The rejected revision cannot be published either
    refused = (await desk.as_business(PUBLISH, id=listing_id))["listingPublish"]
    assert [e["code"] for e in refused["errors"]] == ["NOT_APPROVED"]


async def test_a_rejection_needs_notes_and_an_unsubmitted_draft_cannot_be_reviewed(
    desk: Desk,
) -> None:
    made = await draft_listing(desk.world, partner_id=desk.partner)
    listing_id = gid("Listing", made.listing_id)
    unsubmitted = (await desk.as_admin(REVIEW, id=listing_id, d="APPROVE", notes=""))[
        "listingReview"
    ]
    assert [e["code"] for e in unsubmitted["errors"]] == ["WRONG_STATE"]
    await desk.as_business(SUBMIT, id=listing_id)
    silent = (await desk.as_admin(REVIEW, id=listing_id, d="REJECT", notes="  "))["listingReview"]
    assert [(e["code"], e["field"]) for e in silent["errors"]] == [("INVALID", ["notes"])]


async def test_a_taken_slug_is_refused(desk: Desk) -> None:
    taken = await draft_listing(desk.world)
    app, _ = await make_app(desk.world, desk.partner)
    result = (await desk.as_business(CREATE, app=gid("App", app.id), input=_content(taken.slug)))[
        "listingCreate"
    ]
    assert result["listing"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [
        ("DUPLICATE_SLUG", ["input", "slug"])
    ]


async def test_bad_content_names_each_field(desk: Desk) -> None:
    app, _ = await make_app(desk.world, desk.partner)
    content = _content("No Spaces Allowed", category="Not a token!") | {
        "name": " ",
        "screenshots": ["http://plain.example/1.png"],
        "supportUrl": "ftp://x",
    }
    result = (await desk.as_business(CREATE, app=gid("App", app.id), input=content))[
        "listingCreate"
    ]
    assert sorted(tuple(e["field"]) for e in result["errors"]) == [
        ("input", "category"),
        ("input", "name"),
        ("input", "screenshots", "0"),
        ("input", "slug"),
        ("input", "supportUrl"),
    ]
    assert {e["code"] for e in result["errors"]} == {"INVALID"}


async def test_editing_a_published_listing_keeps_it_public_until_the_new_revision_is_published(
    desk: Desk,
) -> None:
    # Given a published listing
    made = await published_listing(desk.world, partner_id=desk.partner, name="Parcel Pilot")
    listing_id = gid("Listing", made.listing_id)
    # When the partner renames it, a second revision starts as a draft
    edited = (await desk.as_business(UPDATE, id=listing_id, input={"name": "Parcel Pilot 2"}))[
        "listingUpdate"
    ]
    assert edited["revision"]["number"] == 2 and edited["revision"]["status"] == "DRAFT"
    assert edited["listing"]["name"] == "Parcel Pilot"
    # Editing the draft again changes that draft, not a third revision
    again = (await desk.as_business(UPDATE, id=listing_id, input={"tagline": "Even faster"}))[
        "listingUpdate"
    ]
    assert again["revision"]["number"] == 2
    # Then through review the public still sees the first revision
    await desk.as_business(SUBMIT, id=listing_id)
    in_review = (await desk.as_business(UPDATE, id=listing_id, input={"name": "Sneaky"}))[
        "listingUpdate"
    ]
    assert [e["code"] for e in in_review["errors"]] == ["WRONG_STATE"]
    assert (await desk.public(ONE, slug=made.slug))["listing"]["name"] == "Parcel Pilot"
    await desk.as_admin(REVIEW, id=listing_id, d="APPROVE", notes="")
    assert (await desk.public(ONE, slug=made.slug))["listing"]["name"] == "Parcel Pilot"
    # And publishing the approved revision supersedes the first
    published = (await desk.as_business(PUBLISH, id=listing_id))["listingPublish"]
    assert published["revision"] == published["revision"] | {"number": 2, "status": "PUBLISHED"}
    shown = (await desk.public(ONE, slug=made.slug))["listing"]
    assert (shown["name"], shown["tagline"]) == ("Parcel Pilot 2", "Even faster")
    async with desk.world.services.db.reader() as session:
        statuses = (
            await session.scalars(
                select(ListingRevision.status)
                .where(ListingRevision.listing_id == made.listing_id)
                .order_by(ListingRevision.number)
            )
        ).all()
    assert [s.value for s in statuses] == ["superseded", "published"]


async def test_delisting_hides_a_listing_and_publishing_brings_it_back(desk: Desk) -> None:
    made = await published_listing(desk.world, partner_id=desk.partner)
    listing_id = gid("Listing", made.listing_id)
    delisted = (await desk.as_business(DELIST, id=listing_id))["listingDelist"]
    assert delisted["listing"]["status"] == "DELISTED"
    assert (await desk.public(ONE, slug=made.slug))["listing"] is None
    back = (await desk.as_business(PUBLISH, id=listing_id))["listingPublish"]
    assert back["errors"] == [] and back["listing"]["status"] == "PUBLISHED"
    assert (await desk.public(ONE, slug=made.slug))["listing"]["slug"] == made.slug


async def test_a_suspended_partners_listing_disappears(desk: Desk) -> None:
    made = await published_listing(desk.world, partner_id=desk.partner, category=slug("cat"))
    assert (await desk.public(ONE, slug=made.slug))["listing"] is not None
    await set_partner_status(desk.world, desk.partner, PartnerStatus.SUSPENDED)
    assert (await desk.public(ONE, slug=made.slug))["listing"] is None
    browse = "query($q: String) { marketplaceListings(first: 100, query: $q) { nodes { slug } } }"
    nodes = (await desk.public(browse, q="Parcel Pilot"))["marketplaceListings"]["nodes"]
    assert made.slug not in [n["slug"] for n in nodes]


async def test_only_the_partners_business_role_writes_its_listings(
    desk: Desk, gql: GraphQLClient
) -> None:
    world = desk.world
    made = await draft_listing(world, partner_id=desk.partner)
    listing_id = gid("Listing", made.listing_id)
    app, _ = await make_app(world, desk.partner)
    other_partner, _ = await make_partner(world)
    _, stranger = await member(world, other_partner, "business")
    _, developer = await member(world, desk.partner, "developer")
    _, shopper = await world.user("shopper")
    create = {"app": gid("App", app.id), "input": _content(slug())}
    for token in (None, shopper, stranger, developer):
        result = await gql(CREATE, create, token=token)
        assert result.codes == ["FORBIDDEN"], result.body
        result = await gql(UPDATE, {"id": listing_id, "input": {"name": "Mine now"}}, token=token)
        assert result.codes == ["FORBIDDEN"], result.body
        plan = {"name": "X", "kind": "FREE", "price": {"amount": "0", "currencyCode": "EUR"}}
        result = await gql(PLAN_CREATE, {"id": listing_id, "input": plan}, token=token)
        assert result.codes == ["FORBIDDEN"], result.body
    # Nor may a partner's business user review listings, its own or not
    result = await gql(REVIEW, {"id": listing_id, "d": "APPROVE", "notes": ""}, token=desk.business)
    assert result.codes == ["FORBIDDEN"]
    assert (await gql(QUEUE, token=desk.business)).codes == ["FORBIDDEN"]
    # Each refusal was recorded in the listing's partner domain
    async with world.services.db.reader() as session:
        denied = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(
                AuditEvent.action == "listingUpdate",
                AuditEvent.outcome == "denied",
                AuditEvent.domain == f"partner:{desk.partner}",
            )
        )
    assert denied == 4
