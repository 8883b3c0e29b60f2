"""Shops' reviews of listings through GraphQL.

A review is written for the request's shop by its business role, the role that installs apps;
the shop must have the listing's app installed (NOT_INSTALLED otherwise). Each change is
audited in the shop's domain.
"""

from __future__ import annotations

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from marketplace import reviews
from marketplace.listing_models import Review
from schema.auditing import Audit, row_state
from schema.marketplace.common import MarketplaceError, marketplace_errors, pk_of
from schema.marketplace.listing_types import ListingReview
from schema.permissions import requires
from schema.transactions import write

__all__ = ["ListingReviewMutation", "ListingReviewPayload"]

WRITE = requires("install", "write")


@strawberry.type
class ListingReviewPayload:
    review: ListingReview | None
    errors: list[MarketplaceError]


def _audit() -> Audit[Review]:
    return Audit("ListingReview", row_state(Review), target=lambda review: review.id)


@strawberry.type
class ListingReviewMutation:
    @strawberry.mutation(
        extensions=WRITE,
        description="The shop rates an app it has installed, 1 to 5, once (DUPLICATE after).",
    )
    async def listing_review_create(
        self, info: Info, listing_id: strawberry.ID, rating: int, text: str = ""
    ) -> ListingReviewPayload | None:
        shop = info.context.require_shop()
        principal = info.context.principal

        async def work(session: AsyncSession) -> Review:
            return await reviews.create_review(
                session,
                pk_of(listing_id, "Listing", "listingId"),
                shop.id,
                rating=rating,
                text=text,
                author=principal.subject if principal else "",
                now=info.context.now(),
            )

        review, error = await write(info, work, _audit())
        return ListingReviewPayload(
            review=ListingReview.of(review, shop.name) if review else None,
            errors=marketplace_errors(error),
        )

    @strawberry.mutation(extensions=WRITE, description="The shop changes its review.")
    async def listing_review_update(
        self, info: Info, listing_id: strawberry.ID, rating: int, text: str = ""
    ) -> ListingReviewPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Review:
            return await reviews.update_review(
                session,
                pk_of(listing_id, "Listing", "listingId"),
                shop.id,
                rating=rating,
                text=text,
                now=info.context.now(),
            )

        review, error = await write(info, work, _audit())
        return ListingReviewPayload(
            review=ListingReview.of(review, shop.name) if review else None,
            errors=marketplace_errors(error),
        )
