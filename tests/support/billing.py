"""Billing fixtures made straight through the models: a plan on an app's listing, an active
installation of it, a clock the test sets, and a collector that records what it was asked.

Billing tests run on days of their own choosing (``run_billing(deps, day)``), with a
``Billing`` harness whose clock is set explicitly, so nothing depends on the wall clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from sqlalchemy import select

from app.db import Database
from marketplace.app_models import App, Installation, InstallationStatus
from marketplace.billing_models import Charge, ChargeKind
from marketplace.collection import ChargeCollector, CollectionRequest, CollectionResult
from marketplace.listing_models import Listing, ListingStatus, PlanInterval, PlanKind, PricingPlan
from tests.support.factories import World, unique

__all__ = [
    "Billing",
    "FixedClock",
    "SpyCollector",
    "at",
    "charges_of",
    "make_installation",
    "make_plan",
]


def at(day: date, hour: int = 12) -> datetime:
    """A UTC moment on ``day``."""
    return datetime.combine(day, time(hour), tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class SpyCollector:
    """Collects everything unless told otherwise, by shop: a shop in ``refuse`` has its
    charges declined; one in ``unknown`` gets no result (a Stripe that did not answer)."""

    refuse: set[int] = field(default_factory=set)
    unknown: set[int] = field(default_factory=set)
    asked: list[int] = field(default_factory=list)

    async def collect(self, requests: Sequence[CollectionRequest]) -> list[CollectionResult]:
        results = []
        for request in requests:
            self.asked.append(request.charge_id)
            if request.shop_id in self.unknown:
                continue
            if request.shop_id in self.refuse:
                results.append(CollectionResult(request.charge_id, False, failure="declined"))
            else:
                results.append(
                    CollectionResult(request.charge_id, True, invoice_id=f"in_{request.charge_id}")
                )
        return results


@dataclass
class Billing:
    """A ``BillingDeps`` on the suite's database with a clock and collector of the test's."""

    db: Database
    clock: FixedClock
    collector: ChargeCollector

    @classmethod
    def on(cls, world: World, now: datetime, collector: ChargeCollector | None = None) -> Billing:
        return cls(world.services.db, FixedClock(now), collector or SpyCollector())


async def make_plan(
    world: World,
    app: App,
    kind: PlanKind,
    *,
    amount: int = 0,
    interval: PlanInterval | None = None,
    trial_days: int = 0,
    usage_cap: int | None = None,
    currency: str = "EUR",
) -> PricingPlan:
    """A plan on a (new, published) listing of the app."""
    async with world.services.db.writer() as session, session.begin():
        listing = Listing(
            app_id=app.id,
            partner_id=app.partner_id,
            slug=unique("listing"),
            status=ListingStatus.PUBLISHED,
        )
        session.add(listing)
        await session.flush()
        plan = PricingPlan(
            listing_id=listing.id,
            name=f"{kind.value} plan",
            kind=kind,
            amount=amount,
            currency=currency,
            interval=interval,
            trial_days=trial_days,
            usage_cap=usage_cap,
        )
        session.add(plan)
    return plan


async def make_installation(
    world: World,
    app: App,
    plan: PricingPlan | None,
    *,
    activated_at: datetime,
    shop_id: int | None = None,
    status: InstallationStatus = InstallationStatus.ACTIVE,
) -> Installation:
    """The app installed in the world's shop (or ``shop_id``), active since ``activated_at``."""
    async with world.services.db.writer() as session, session.begin():
        installation = Installation(
            app_id=app.id,
            shop_id=shop_id or world.shop.id,
            plan_id=plan.id if plan is not None else None,
            status=status,
            activated_at=activated_at,
            requested_by="test",
        )
        session.add(installation)
    return installation


async def charges_of(
    world: World, installation: Installation, kind: ChargeKind | None = None
) -> list[Charge]:
    """The installation's charges, oldest period first."""
    query = select(Charge).where(Charge.installation_id == installation.id)
    if kind is not None:
        query = query.where(Charge.kind == kind)
    async with world.services.db.reader() as session:
        return list(await session.scalars(query.order_by(Charge.period_start, Charge.id)))
