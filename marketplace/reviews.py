"""Shops' reviews of the apps they use: a rating of 1-5 with text, one per shop and listing.

Only a shop with an active installation of the listing's app may review it, so every rating
comes from a real user of the app; the shop may edit its review later, installed or not. The
listing keeps the running sum and count of its ratings, changed by SQL increments in the same
transaction as the review, so concurrent reviews never lose an update and ranking reads the
average without aggregating reviews.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from marketplace.app_models import Installation, InstallationStatus
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import Listing, ListingStatus, Review

__all__ = ["MAX_REVIEW_TEXT", "create_review", "update_review"]

MAX_REVIEW_TEXT = 5_000


def _problems(rating: int, text: str) -> list[Problem]:
    problems = []
    if not 1 <= rating <= 5:
        problems.append(Problem(MarketplaceErrorCode.INVALID, "A rating is 1 to 5.", ("rating",)))
    if len(text) > MAX_REVIEW_TEXT:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID, f"At most {MAX_REVIEW_TEXT} characters.", ("text",)
            )
        )
    return problems


async def _published(session: AsyncSession, listing_id: int) -> Listing:
    listing = await session.get(Listing, listing_id)
    if listing is None or listing.status is not ListingStatus.PUBLISHED:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such listing.", "listingId")
    return listing


async def _rate(session: AsyncSession, listing_id: int, *, added: int, counted: int) -> None:
    await session.execute(
        update(Listing)
        .where(Listing.id == listing_id)
        .values(rating_sum=Listing.rating_sum + added, rating_count=Listing.rating_count + counted)
        .execution_options(synchronize_session=False)
    )


async def create_review(
    session: AsyncSession,
    listing_id: int,
    shop_id: int,
    *,
    rating: int,
    text: str,
    author: str,
    now: datetime,
) -> Review:
    text = text.strip()
    if problems := _problems(rating, text):
        raise DomainError(problems)
    listing = await _published(session, listing_id)
    installed = await session.scalar(
        select(Installation.id)
        .where(
            Installation.app_id == listing.app_id,
            Installation.shop_id == shop_id,
            Installation.status == InstallationStatus.ACTIVE,
        )
        .limit(1)
    )
    if installed is None:
        raise DomainError.one(
            MarketplaceErrorCode.NOT_INSTALLED,
            "Only a shop that has the app installed may review it.",
            "listingId",
        )
    duplicate = DomainError.one(
        MarketplaceErrorCode.DUPLICATE,
        "The shop has reviewed this app; edit that review instead.",
        "listingId",
    )
    if await session.scalar(
        select(Review.id).where(Review.listing_id == listing.id, Review.shop_id == shop_id)
    ):
        raise duplicate
    review = Review(
        listing_id=listing.id,
        shop_id=shop_id,
        rating=rating,
        text=text,
        author=author,
        created_at=now,
        updated_at=now,
    )
    try:
        async with session.begin_nested():  # the same shop reviewing from two tabs at once
            session.add(review)
            await session.flush()
    except IntegrityError as exc:
        raise duplicate from exc
    await _rate(session, listing.id, added=rating, counted=1)
    return review


async def update_review(
    session: AsyncSession,
    listing_id: int,
    shop_id: int,
    *,
    rating: int,
    text: str,
    now: datetime,
) -> Review:
    text = text.strip()
    if problems := _problems(rating, text):
        raise DomainError(problems)
    review = await session.scalar(
        select(Review)
        .where(Review.listing_id == listing_id, Review.shop_id == shop_id)
        .with_for_update()
    )
    if review is None:
        raise DomainError.one(
            MarketplaceErrorCode.NOT_FOUND, "The shop has not reviewed this app.", "listingId"
        )
    await _rate(session, listing_id, added=rating - review.rating, counted=0)
    review.rating = rating
    review.text = text
    review.updated_at = now
    await session.flush()
    return review
