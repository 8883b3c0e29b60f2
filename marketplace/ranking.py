"""The public marketplace: which listings appear, and in what order.

Only published listings of active (not suspended) partners appear, with the content of their
published revision. A query keeps the listings that match at least one of its words; a category
keeps those in it; ``FREE`` keeps listings offering an active free plan and ``PAID`` those
offering an active paid one (a listing with both appears under either).

The ranking, with every term computed in SQL so that a page is one set-based statement cut by
keyset pagination over (score, id)::

    bayes       = (C * m + rating_sum) / (C + rating_count)          C = 5, m = 3.5
    popularity  = ln(1 + installs)
    relevance   = sum over the query's words w (lowercased, at most 8) of
                  3 * [w in lower(name)] + 2 * [w in lower(tagline)] + 1 * [w in lower(description)]
    score       = 2 * relevance + bayes + 0.5 * popularity + listing_boost(partner's tier)

``bayes`` pulls a listing with few ratings towards the prior mean m, as if it had C more
ratings of m: one 5-star review (3.75) does not beat forty 4.5-star ones (4.39). ``ln`` makes
the thousandth install count for less than the tenth. The tier boost (seeded 0, 0.5 and 1.0 for
standard, advanced and strategic) is the strategic partners' featured placement, worth about
one rating step. Without a query, relevance is 0 and the score ranks by quality, use and tier.

The sorts: RELEVANCE by score; POPULAR by installs; RATING by bayes; NEWEST by the first
publication. All are highest first, and ties are broken by the listing id, highest first.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Select, and_, case, cast, exists, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.pagination import KeysetOrder, Page, PageRequest, fetch_page
from marketplace.listing_models import (
    Listing,
    ListingRevision,
    ListingStatus,
    PlanKind,
    PricingPlan,
    RevisionStatus,
)
from marketplace.models import Partner, PartnerStatus, TierPolicy

__all__ = [
    "FIELD_WEIGHTS",
    "MAX_TERMS",
    "PRIOR_MEAN",
    "PRIOR_WEIGHT",
    "ListingSearch",
    "ListingSort",
    "PricingFilter",
    "bayesian_rating",
    "count_listings",
    "listing_order",
    "query_terms",
    "search_listings",
    "visible_listings",
]

PRIOR_WEIGHT = 5  # C
PRIOR_MEAN = 3.5  # m
RELEVANCE_WEIGHT = 2.0
POPULARITY_WEIGHT = 0.5
FIELD_WEIGHTS = (("name", 3), ("tagline", 2), ("description", 1))
MAX_TERMS = 8
MAX_TERM_LENGTH = 50
MAX_TOTAL_COUNT = 10_000


class ListingSort(enum.StrEnum):
    RELEVANCE = "RELEVANCE"
    POPULAR = "POPULAR"
    RATING = "RATING"
    NEWEST = "NEWEST"


class PricingFilter(enum.StrEnum):
    FREE = "FREE"
    PAID = "PAID"


@dataclass(frozen=True, slots=True)
class ListingSearch:
    query: str | None = None
    category: str | None = None
    pricing: PricingFilter | None = None


def bayesian_rating(rating_sum: int, rating_count: int) -> float:
    """The same average the RATING sort orders by, for showing beside it."""
    return (PRIOR_WEIGHT * PRIOR_MEAN + rating_sum) / (PRIOR_WEIGHT + rating_count)


def query_terms(query: str | None) -> list[str]:
    """The query's distinct lowercase words, in order, at most MAX_TERMS of them."""
    terms: list[str] = []
    for word in (query or "").lower().split():
        if word not in terms:
            terms.append(word[:MAX_TERM_LENGTH])
    return terms[:MAX_TERMS]


def _constant(value: float) -> Any:
    """A constant of the formula, inline and typed as a float on both databases."""
    return literal_column(repr(float(value)), Float)


def _as_float(column: Any) -> Any:
    return cast(column, Float)


def _bayes() -> Any:
    return (_constant(PRIOR_WEIGHT * PRIOR_MEAN) + _as_float(Listing.rating_sum)) / (
        _constant(PRIOR_WEIGHT) + _as_float(Listing.rating_count)
    )


def _popularity() -> Any:
    return func.ln(_constant(1) + _as_float(Listing.installs))


def _pattern(term: str) -> str:
    escaped = term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _matches(term: str) -> list[tuple[Any, int]]:
    return [
        (func.lower(getattr(ListingRevision, name)).like(_pattern(term), escape="\\"), weight)
        for name, weight in FIELD_WEIGHTS
    ]


def _relevance(terms: list[str]) -> Any:
    if not terms:
        return _constant(0)
    total: Any = None
    for term in terms:
        for condition, weight in _matches(term):
            scored = case((condition, _constant(weight)), else_=_constant(0))
            total = scored if total is None else total + scored
    return total


def _score(terms: list[str]) -> Any:
    return (
        _constant(RELEVANCE_WEIGHT) * _relevance(terms)
        + _bayes()
        + _constant(POPULARITY_WEIGHT) * _popularity()
        + func.coalesce(TierPolicy.listing_boost, _constant(0))
    )


def listing_order(sort: ListingSort, query: str | None) -> KeysetOrder:
    """The keyset order of a sort; its name, which cursors carry, pins the query's words."""
    expression: Any
    decode: Any = float
    if sort is ListingSort.RELEVANCE:
        expression = _score(query_terms(query))
    elif sort is ListingSort.POPULAR:
        expression, decode = Listing.installs, int
    elif sort is ListingSort.RATING:
        expression = _bayes()
    else:
        expression, decode = Listing.published_at, datetime.fromisoformat
    name = f"listings:{sort.value}"
    if sort is ListingSort.RELEVANCE:
        words = " ".join(query_terms(query))
        name += ":" + hashlib.sha256(words.encode()).hexdigest()[:12]
    return KeysetOrder(name, expression, Listing.id, True, decode)


def visible_listings() -> Select[Any]:
    """Published listings of active partners, joined to their content and tier policy."""
    return (
        select(Listing)
        .join(
            ListingRevision,
            and_(
                ListingRevision.listing_id == Listing.id,
                ListingRevision.status == RevisionStatus.PUBLISHED,
            ),
        )
        .join(Partner, Partner.id == Listing.partner_id)
        .outerjoin(TierPolicy, TierPolicy.tier == Partner.tier)
        .where(Listing.status == ListingStatus.PUBLISHED, Partner.status == PartnerStatus.ACTIVE)
    )


def _filtered(search: ListingSearch) -> Select[Any]:
    query = visible_listings()
    if terms := query_terms(search.query):
        query = query.where(or_(*(condition for term in terms for condition, _ in _matches(term))))
    if search.category:
        query = query.where(ListingRevision.category == search.category.strip().lower())
    if search.pricing is not None:
        free = PricingPlan.kind == PlanKind.FREE
        query = query.where(
            exists().where(
                PricingPlan.listing_id == Listing.id,
                PricingPlan.active.is_(True),
                free if search.pricing is PricingFilter.FREE else ~free,
            )
        )
    return query


async def search_listings(
    session: AsyncSession, search: ListingSearch, order: KeysetOrder, request: PageRequest
) -> Page[Listing]:
    """One page of the marketplace in one statement."""
    return await fetch_page(session, _filtered(search), order, request)


async def count_listings(
    session: AsyncSession, search: ListingSearch, cap: int = MAX_TOTAL_COUNT
) -> int:
    """How many listings match, counted up to ``cap`` so a total never costs a full scan."""
    capped = _filtered(search).with_only_columns(Listing.id).limit(cap).subquery()
    return int(await session.scalar(select(func.count()).select_from(capped)) or 0)
