"""Listings: their content as revisions, and the road from draft to the public marketplace.

A listing is created with its first revision, a draft. The partner's business role edits the
draft and submits it; a community admin approves or rejects it, once; the partner publishes an
approved revision. The public only ever sees the one revision in state ``published``: editing a
published listing makes a new draft revision, which goes through review while the published one
stays visible, and publishing the new one supersedes the old.

At most one revision is open (draft, in review, approved or rejected) at a time, and it is
always the listing's latest; an edit of an approved or rejected revision starts a new draft, so
no content is ever published without a review of exactly that content. The slug is the
listing's public address and never changes. ``published_at`` is the first publication, so
republishing an edit or a delisted listing does not make it look new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from marketplace.app_models import App
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import Listing, ListingRevision, ListingStatus, RevisionStatus
from marketplace.models import Decision, Partner, PartnerStatus

__all__ = [
    "MAX_SCREENSHOTS",
    "ListingChange",
    "ListingContent",
    "ListingEdit",
    "create_listing",
    "delist_listing",
    "edit_listing",
    "latest_revision",
    "publish_listing",
    "review_revision",
    "submit_listing",
]

MAX_SCREENSHOTS = 10
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,78})[a-z0-9]$")
_CATEGORY = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")
_HTTPS = re.compile(r"^https://[^\s/$.?#][^\s]{0,490}$")
_OPEN = (RevisionStatus.DRAFT, RevisionStatus.IN_REVIEW, RevisionStatus.APPROVED)
_LIMITS = {"name": 120, "tagline": 200, "description": 10_000}


@dataclass(frozen=True, slots=True)
class ListingContent:
    """What a revision says about the app; ``category`` is a lowercase token (``shipping``)."""

    name: str
    tagline: str = ""
    description: str = ""
    category: str = ""
    screenshots: tuple[str, ...] = ()
    support_url: str = ""

    @classmethod
    def of(cls, revision: ListingRevision) -> ListingContent:
        return cls(
            name=revision.name,
            tagline=revision.tagline,
            description=revision.description,
            category=revision.category,
            screenshots=tuple(revision.screenshots),
            support_url=revision.support_url,
        )

    def cleaned(self) -> ListingContent:
        return replace(
            self,
            name=self.name.strip(),
            tagline=self.tagline.strip(),
            description=self.description.strip(),
            category=self.category.strip().lower(),
            support_url=self.support_url.strip(),
        )


@dataclass(frozen=True, slots=True)
class ListingEdit:
    """Changes to the latest content; None leaves a field as it is."""

    name: str | None = None
    tagline: str | None = None
    description: str | None = None
    category: str | None = None
    screenshots: tuple[str, ...] | None = None
    support_url: str | None = None

    def applied_to(self, content: ListingContent) -> ListingContent:
        changes = {f.name: getattr(self, f.name) for f in fields(self)}
        return replace(content, **{k: v for k, v in changes.items() if v is not None})


@dataclass(frozen=True, slots=True)
class ListingChange:
    """A listing and the revision a change made or moved."""

    listing: Listing
    revision: ListingRevision


def _invalid(message: str, *field: str) -> Problem:
    return Problem(MarketplaceErrorCode.INVALID, message, ("input", *field))


def content_problems(content: ListingContent) -> list[Problem]:
    problems = []
    if not content.name:
        problems.append(_invalid("A name is required.", "name"))
    for name, limit in _LIMITS.items():
        if len(getattr(content, name)) > limit:
            problems.append(_invalid(f"At most {limit} characters.", name))
    if not _CATEGORY.match(content.category):
        problems.append(
            _invalid("A category is a lowercase word or words-with-hyphens.", "category")
        )
    if len(content.screenshots) > MAX_SCREENSHOTS:
        problems.append(_invalid(f"At most {MAX_SCREENSHOTS} screenshots.", "screenshots"))
    for index, url in enumerate(content.screenshots[:MAX_SCREENSHOTS]):
        if not _HTTPS.match(url):
            problems.append(_invalid("An https URL.", "screenshots", str(index)))
    if content.support_url and not _HTTPS.match(content.support_url):
        problems.append(_invalid("An https URL.", "supportUrl"))
    return problems


async def _locked(session: AsyncSession, listing_id: int) -> Listing:
    listing = await session.scalar(
        select(Listing).where(Listing.id == listing_id).with_for_update()
    )
    if listing is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such listing.", "listingId")
    return listing


async def latest_revision(session: AsyncSession, listing_id: int) -> ListingRevision:
    revision = await session.scalar(
        select(ListingRevision)
        .where(ListingRevision.listing_id == listing_id)
        .order_by(ListingRevision.number.desc())
        .limit(1)
    )
    assert revision is not None, "a listing is created with its first revision"
    return revision


async def create_listing(
    session: AsyncSession, *, app_id: int, slug: str, content: ListingContent, now: datetime
) -> ListingChange:
    """A listing of the app with its first revision, a draft. One listing per app."""
    app = await session.get(App, app_id)
    if app is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such app.", "appId")
    content = content.cleaned()
    slug = slug.strip()
    problems = content_problems(content)
    if not _SLUG.match(slug):
        problems.append(
            _invalid("3-80 lowercase letters, digits and inner hyphens (my-app).", "slug")
        )
    elif await session.scalar(select(Listing.id).where(Listing.slug == slug)):
        problems.append(
            Problem(MarketplaceErrorCode.DUPLICATE_SLUG, "The slug is taken.", ("input", "slug"))
        )
    if await session.scalar(select(Listing.id).where(Listing.app_id == app_id)):
        problems.append(
            Problem(MarketplaceErrorCode.DUPLICATE, "The app has a listing already.", ("appId",))
        )
    if problems:
        raise DomainError(problems)
    listing = Listing(app_id=app.id, partner_id=app.partner_id, slug=slug, created_at=now)
    try:
        async with session.begin_nested():  # a concurrent create of the same slug
            session.add(listing)
            await session.flush()
    except IntegrityError as exc:
        raise DomainError.one(
            MarketplaceErrorCode.DUPLICATE_SLUG, "The slug is taken.", "input", "slug"
        ) from exc
    revision = _revision(listing.id, 1, content, now)
    session.add(revision)
    await session.flush()
    return ListingChange(listing, revision)


def _revision(
    listing_id: int, number: int, content: ListingContent, now: datetime
) -> ListingRevision:
    return ListingRevision(
        listing_id=listing_id,
        number=number,
        name=content.name,
        tagline=content.tagline,
        description=content.description,
        category=content.category,
        screenshots=list(content.screenshots),
        support_url=content.support_url,
        status=RevisionStatus.DRAFT,
        created_at=now,
    )


async def edit_listing(
    session: AsyncSession, listing_id: int, edit: ListingEdit, now: datetime
) -> ListingChange:
    """Edit the draft in place, or start a new draft from the latest content.

    A revision in review cannot change under its reviewer (WRONG_STATE). An approved revision
    that was never published is superseded by the new draft, which needs its own review.
    """
    listing = await _locked(session, listing_id)
    latest = await latest_revision(session, listing_id)
    if latest.status is RevisionStatus.IN_REVIEW:
        raise DomainError.one(
            MarketplaceErrorCode.WRONG_STATE,
            "The latest revision is in review; edit it after the decision.",
            "listingId",
        )
    content = edit.applied_to(ListingContent.of(latest)).cleaned()
    if problems := content_problems(content):
        raise DomainError(problems)
    if latest.status is RevisionStatus.DRAFT:
        for name in ("name", "tagline", "description", "category", "support_url"):
            setattr(latest, name, getattr(content, name))
        latest.screenshots = list(content.screenshots)
        await session.flush()
        return ListingChange(listing, latest)
    if latest.status is RevisionStatus.APPROVED:
        latest.status = RevisionStatus.SUPERSEDED
    draft = _revision(listing.id, latest.number + 1, content, now)
    session.add(draft)
    await session.flush()
    return ListingChange(listing, draft)


async def submit_listing(session: AsyncSession, listing_id: int, now: datetime) -> ListingChange:
    """Send the draft to review; submitting what is already in review changes nothing."""
    listing = await _locked(session, listing_id)
    latest = await latest_revision(session, listing_id)
    if latest.status is RevisionStatus.DRAFT:
        latest.status = RevisionStatus.IN_REVIEW
        latest.submitted_at = now
        await session.flush()
    elif latest.status is not RevisionStatus.IN_REVIEW:
        raise DomainError.one(
            MarketplaceErrorCode.WRONG_STATE,
            f"The latest revision is {latest.status.value}; edit the listing to submit again.",
            "listingId",
        )
    return ListingChange(listing, latest)


async def review_revision(
    session: AsyncSession,
    revision_id: int,
    decision: Decision,
    *,
    notes: str,
    reviewer: str,
    now: datetime,
) -> ListingChange:
    """Approve or reject a revision in review; each revision is decided once.

    The decision is one conditional UPDATE, so of two admins deciding at the same moment one
    wins and the other is told ALREADY_DECIDED.
    """
    revision = await session.get(ListingRevision, revision_id)
    if revision is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such revision.", "revisionId")
    notes = notes.strip()
    if decision is Decision.REJECT and not notes:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID, "Tell the partner why in the notes.", "notes"
        )
    if len(notes) > 5_000:
        raise DomainError.one(MarketplaceErrorCode.INVALID, "At most 5000 characters.", "notes")
    status = RevisionStatus.APPROVED if decision is Decision.APPROVE else RevisionStatus.REJECTED
    decided = await session.execute(
        update(ListingRevision)
        .where(
            ListingRevision.id == revision_id,
            ListingRevision.status == RevisionStatus.IN_REVIEW,
        )
        .values(status=status, review_notes=notes, reviewed_by=reviewer, reviewed_at=now)
        .execution_options(synchronize_session=False)
    )
    if decided.rowcount != 1:  # type: ignore[attr-defined]
        if revision.status is RevisionStatus.DRAFT:
            raise DomainError.one(
                MarketplaceErrorCode.WRONG_STATE, "The revision was not submitted.", "revisionId"
            )
        raise DomainError.one(
            MarketplaceErrorCode.ALREADY_DECIDED,
            "The revision has been decided already.",
            "revisionId",
        )
    await session.refresh(revision)
    listing = await session.get(Listing, revision.listing_id)
    assert listing is not None
    return ListingChange(listing, revision)


async def publish_listing(session: AsyncSession, listing_id: int, now: datetime) -> ListingChange:
    """Make the approved revision the public one, superseding the one it replaces.

    When the latest revision is the published one, publishing again changes nothing, or brings
    a delisted listing back. A draft, a revision in review or a rejected one is NOT_APPROVED.
    """
    listing = await _locked(session, listing_id)
    partner = await session.get(Partner, listing.partner_id)
    if partner is not None and partner.status is PartnerStatus.SUSPENDED:
        raise DomainError.one(
            MarketplaceErrorCode.PARTNER_SUSPENDED, "The partner is suspended.", "listingId"
        )
    latest = await latest_revision(session, listing_id)
    if latest.status is RevisionStatus.APPROVED:
        await session.execute(
            update(ListingRevision)
            .where(
                ListingRevision.listing_id == listing_id,
                ListingRevision.status == RevisionStatus.PUBLISHED,
            )
            .values(status=RevisionStatus.SUPERSEDED)
            .execution_options(synchronize_session=False)
        )
        latest.status = RevisionStatus.PUBLISHED
        published = latest
    elif latest.status is RevisionStatus.PUBLISHED:
        published = latest
    else:
        raise DomainError.one(
            MarketplaceErrorCode.NOT_APPROVED,
            f"The latest revision is {latest.status.value}; only an approved one can be published.",
            "listingId",
        )
    listing.status = ListingStatus.PUBLISHED
    listing.published_at = listing.published_at or now
    await session.flush()
    return ListingChange(listing, published)


async def _published_revision(session: AsyncSession, listing_id: int) -> ListingRevision | None:
    return await session.scalar(
        select(ListingRevision).where(
            ListingRevision.listing_id == listing_id,
            ListingRevision.status == RevisionStatus.PUBLISHED,
        )
    )


async def delist_listing(session: AsyncSession, listing_id: int) -> ListingChange:
    """Take a published listing out of the marketplace; delisting twice changes nothing."""
    listing = await _locked(session, listing_id)
    published = await _published_revision(session, listing_id)
    if listing.status is ListingStatus.DRAFT or published is None:
        raise DomainError.one(
            MarketplaceErrorCode.WRONG_STATE, "The listing was never published.", "listingId"
        )
    listing.status = ListingStatus.DELISTED
    await session.flush()
    return ListingChange(listing, published)
