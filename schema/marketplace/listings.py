"""Listings through GraphQL: the public marketplace, and the road a listing takes to it.

Anyone may browse ``marketplaceListings`` and open a ``listing``. The partner's business role
writes the content and pricing plans, submits and publishes; a community admin reviews. A shop
with the app installed reviews it through the shop's business role. Every privileged change is
audited in its own transaction: listing and plan changes in the partner's domain, review
decisions in the platform's, shops' reviews in the shop's.
"""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.security.audit import jsonable
from marketplace import listing_reads as reads
from marketplace import listings, plans, ranking
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import Listing
from marketplace.listing_models import PricingPlan as PlanRow
from marketplace.models import Decision
from schema.auditing import Audit, row_state
from schema.errors import ApiErrorCode, api_error
from schema.marketplace.common import (
    MarketplaceError,
    PartnerOf,
    ReviewDecision,
    marketplace_errors,
    partner_of_app,
    partner_of_listing,
    pk_of,
)
from schema.marketplace.listing_inputs import (
    ListingCreateInput,
    ListingUpdateInput,
    PricingPlanInput,
)
from schema.marketplace.listing_types import (
    ListingRevision,
    ListingSortEnum,
    MarketplaceListing,
    PricingFilterEnum,
    PricingPlan,
    listing_nodes,
)
from schema.marketplace.reviews import ListingReviewMutation
from schema.node import parse_id
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires
from schema.transactions import write

__all__ = ["ListingMutation", "ListingQuery", "partner_of_plan"]

MAX_QUERY_LENGTH = 200
REVIEW = requires("listing", "review", domain="platform")
NOT_FOUND, INVALID = MarketplaceErrorCode.NOT_FOUND, MarketplaceErrorCode.INVALID


def partner_of_plan(argument: str = "plan_id") -> PartnerOf:
    async def resolve(info: Info, kwargs: dict[str, Any]) -> int | None:
        parsed = parse_id(str(kwargs.get(argument)))
        if parsed is None or parsed[0] != "PricingPlan":
            return None
        async with info.context.db.reader() as session:
            return await session.scalar(
                select(Listing.partner_id)
                .join(PlanRow, PlanRow.listing_id == Listing.id)
                .where(PlanRow.id == parsed[1])
            )

    return resolve


def _partner(obj: str, act: str, partner_of: PartnerOf) -> Any:
    return requires(obj, act, domain="partner", partner_of=partner_of)


async def _listing_state(session: AsyncSession, key: int) -> Any:
    """The listing row and its latest revision, as the audit trail keeps them."""
    listing = await session.get(Listing, key, populate_existing=True)
    if listing is None:
        return None
    revision = await listings.latest_revision(session, key)
    await session.refresh(revision)
    return {"listing": jsonable(listing), "revision": jsonable(revision)}


def _listing_audit(listing_id: strawberry.ID | None = None) -> Audit[Any]:
    return Audit(
        "Listing",
        _listing_state,
        target=lambda change: change.listing.id,
        before=(lambda: pk_of(listing_id, "Listing", "listingId")) if listing_id else None,
        domain="partner",
    )


def _plan_audit(plan_id: strawberry.ID | None = None) -> Audit[Any]:
    return Audit(
        "PricingPlan",
        row_state(PlanRow),
        target=lambda plan: plan.id,
        before=(lambda: pk_of(plan_id, "PricingPlan", "planId")) if plan_id else None,
        domain="partner",
    )


@strawberry.type
class ListingPayload:
    listing: MarketplaceListing | None = strawberry.field(
        description="With its published content; a listing never published shows its draft."
    )
    revision: ListingRevision | None = strawberry.field(
        description="The revision this change made or moved."
    )
    errors: list[MarketplaceError]


@strawberry.type
class PricingPlanPayload:
    pricing_plan: PricingPlan | None
    errors: list[MarketplaceError]


async def _listing_payload(
    info: Info, change: listings.ListingChange | None, error: DomainError | None
) -> ListingPayload:
    if change is None:
        return ListingPayload(listing=None, revision=None, errors=marketplace_errors(error))
    nodes = await listing_nodes(info, [change.listing], fallback=change.revision)
    return ListingPayload(listing=nodes[0], revision=ListingRevision.of(change.revision), errors=[])


def _plan_payload(plan: PlanRow | None, error: DomainError | None) -> PricingPlanPayload:
    return PricingPlanPayload(
        pricing_plan=PricingPlan.of(plan) if plan is not None else None,
        errors=marketplace_errors(error),
    )


@strawberry.type
class ListingQuery:
    @strawberry.field(
        description="Published listings of active partners, keyset-paginated. RELEVANCE mixes "
        "text matches, the Bayesian rating, installs and the partner's tier boost."
    )
    async def marketplace_listings(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        query: str | None = None,
        category: str | None = None,
        pricing: PricingFilterEnum | None = None,  # type: ignore[valid-type]
        sort: ListingSortEnum = ranking.ListingSort.RELEVANCE,  # type: ignore[valid-type]
    ) -> Connection[MarketplaceListing]:
        if query is not None and len(query) > MAX_QUERY_LENGTH:
            raise api_error(
                ApiErrorCode.BAD_USER_INPUT, f"query is longer than {MAX_QUERY_LENGTH} characters."
            )
        context = info.context
        order = ranking.listing_order(sort, query)
        request = page_request(
            context.services.cursors, order, first=first, after=after, last=last, before=before
        )
        search = ranking.ListingSearch(query=query, category=category, pricing=pricing)
        async with context.db.reader() as session:
            page = await ranking.search_listings(session, search, order, request)

        async def total() -> int:
            async with context.db.reader() as session:
                return await ranking.count_listings(session, search)

        nodes = iter(await listing_nodes(info, page.rows))
        return connection(context.services.cursors, order, page, lambda _: next(nodes), total)

    @strawberry.field(description="A published listing by its slug; null if there is none.")
    async def listing(self, info: Info, slug: str) -> MarketplaceListing | None:
        async with info.context.db.reader() as session:
            row = await reads.visible_listing_by_slug(session, slug)
        nodes = await listing_nodes(info, [row]) if row is not None else []
        return nodes[0] if nodes else None

    @strawberry.field(extensions=REVIEW, description="Revisions waiting for review, oldest first.")
    async def listing_review_queue(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[ListingRevision]:
        codec = info.context.services.cursors
        order = reads.REVIEW_QUEUE_ORDER
        request = page_request(codec, order, first=first, after=after, last=None, before=None)
        async with info.context.db.reader() as session:
            page = await reads.review_queue(session, request)
        return connection(codec, order, page, ListingRevision.of)


@strawberry.type
class ListingMutation(ListingReviewMutation):
    @strawberry.mutation(
        extensions=_partner("listing", "write", partner_of_app("app_id")),
        description="A listing for one of the partner's apps, with its first draft revision.",
    )
    async def listing_create(
        self, info: Info, app_id: strawberry.ID, input: ListingCreateInput
    ) -> ListingPayload | None:
        async def work(session: AsyncSession) -> listings.ListingChange:
            return await listings.create_listing(
                session,
                app_id=pk_of(app_id, "App", "appId"),
                slug=input.slug,
                content=input.to_content(),
                now=info.context.now(),
            )

        change, error = await write(info, work, _listing_audit())
        return await _listing_payload(info, change, error)

    @strawberry.mutation(
        extensions=_partner("listing", "write", partner_of_listing()),
        description="Edit the draft, or start a new draft revision; the published content stays "
        "public until a new revision is approved and published.",
    )
    async def listing_update(
        self, info: Info, listing_id: strawberry.ID, input: ListingUpdateInput
    ) -> ListingPayload | None:
        async def work(session: AsyncSession) -> listings.ListingChange:
            key = pk_of(listing_id, "Listing", "listingId")
            return await listings.edit_listing(session, key, input.to_edit(), info.context.now())

        change, error = await write(info, work, _listing_audit(listing_id))
        return await _listing_payload(info, change, error)

    @strawberry.mutation(
        extensions=_partner("listing", "submit", partner_of_listing()),
        description="Send the draft revision to review.",
    )
    async def listing_submit(self, info: Info, listing_id: strawberry.ID) -> ListingPayload | None:
        async def work(session: AsyncSession) -> listings.ListingChange:
            key = pk_of(listing_id, "Listing", "listingId")
            return await listings.submit_listing(session, key, info.context.now())

        change, error = await write(info, work, _listing_audit(listing_id))
        return await _listing_payload(info, change, error)

    @strawberry.mutation(
        extensions=_partner("listing", "write", partner_of_listing()),
        description="Make the approved revision public (NOT_APPROVED without one).",
    )
    async def listing_publish(self, info: Info, listing_id: strawberry.ID) -> ListingPayload | None:
        async def work(session: AsyncSession) -> listings.ListingChange:
            key = pk_of(listing_id, "Listing", "listingId")
            return await listings.publish_listing(session, key, info.context.now())

        change, error = await write(info, work, _listing_audit(listing_id))
        return await _listing_payload(info, change, error)

    @strawberry.mutation(
        extensions=_partner("listing", "write", partner_of_listing()),
        description="Take the listing out of the marketplace; listingPublish brings it back.",
    )
    async def listing_delist(self, info: Info, listing_id: strawberry.ID) -> ListingPayload | None:
        async def work(session: AsyncSession) -> listings.ListingChange:
            key = pk_of(listing_id, "Listing", "listingId")
            return await listings.delist_listing(session, key)

        change, error = await write(info, work, _listing_audit(listing_id))
        return await _listing_payload(info, change, error)

    @strawberry.mutation(
        extensions=REVIEW,
        description="Approve or reject a revision in review, once. Name the revision, or the "
        "listing to decide its latest revision. Rejecting needs notes for the partner.",
    )
    async def listing_review(
        self,
        info: Info,
        decision: ReviewDecision,  # type: ignore[valid-type]
        revision_id: strawberry.ID | None = None,
        listing_id: strawberry.ID | None = None,
        notes: str = "",
    ) -> ListingPayload | None:
        principal = info.context.principal

        async def work(session: AsyncSession) -> listings.ListingChange:
            if revision_id is not None:
                key = pk_of(revision_id, "ListingRevision", "revisionId")
            elif listing_id is not None:
                listing = pk_of(listing_id, "Listing", "listingId")
                if await session.get(Listing, listing) is None:
                    raise DomainError.one(NOT_FOUND, "No such listing.", "listingId")
                key = (await listings.latest_revision(session, listing)).id
            else:
                raise DomainError.one(INVALID, "Name the revision or the listing.", "revisionId")
            return await listings.review_revision(
                session,
                key,
                Decision(decision),
                notes=notes,
                reviewer=principal.subject if principal else "",
                now=info.context.now(),
            )

        audit: Audit[Any] = Audit(
            "ListingRevision",
            row_state(listings.ListingRevision),
            target=lambda change: change.revision.id,
            domain="platform",
        )
        change, error = await write(info, work, audit)
        return await _listing_payload(info, change, error)

    @strawberry.mutation(extensions=_partner("pricing_plan", "write", partner_of_listing()))
    async def pricing_plan_create(
        self, info: Info, listing_id: strawberry.ID, input: PricingPlanInput
    ) -> PricingPlanPayload | None:
        async def work(session: AsyncSession) -> PlanRow:
            key = pk_of(listing_id, "Listing", "listingId")
            return await plans.create_plan(session, key, input.to_draft())

        plan, error = await write(info, work, _plan_audit())
        return _plan_payload(plan, error)

    @strawberry.mutation(
        extensions=_partner("pricing_plan", "write", partner_of_plan()),
        description="Replace a plan's terms. A plan shops are on keeps its price (PLAN_IN_USE).",
    )
    async def pricing_plan_update(
        self, info: Info, plan_id: strawberry.ID, input: PricingPlanInput
    ) -> PricingPlanPayload | None:
        async def work(session: AsyncSession) -> PlanRow:
            key = pk_of(plan_id, "PricingPlan", "planId")
            return await plans.update_plan(session, key, input.to_draft())

        plan, error = await write(info, work, _plan_audit(plan_id))
        return _plan_payload(plan, error)

    @strawberry.mutation(
        extensions=_partner("pricing_plan", "write", partner_of_plan()),
        description="No new installs choose the plan; installs on it keep it.",
    )
    async def pricing_plan_archive(
        self, info: Info, plan_id: strawberry.ID
    ) -> PricingPlanPayload | None:
        async def work(session: AsyncSession) -> PlanRow:
            return await plans.archive_plan(session, pk_of(plan_id, "PricingPlan", "planId"))

        plan, error = await write(info, work, _plan_audit(plan_id))
        return _plan_payload(plan, error)
