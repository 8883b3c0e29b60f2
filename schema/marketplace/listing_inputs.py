"""Inputs for listing content and pricing plans, and their translation to the domain's drafts.

Amounts arrive as decimal strings in a currency and become integer minor units here; an amount
that cannot be represented exactly is refused in the payload, naming its field.
"""

from __future__ import annotations

import strawberry

from app.errors import DomainError
from app.money import CURRENCIES, MoneyError, parse_amount
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import PlanInterval, PlanKind
from marketplace.listings import ListingContent, ListingEdit
from marketplace.plans import PlanDraft
from schema.marketplace.listing_types import PricingPlanIntervalEnum, PricingPlanKindEnum
from schema.money import MoneyInput

__all__ = ["ListingCreateInput", "ListingUpdateInput", "PricingPlanInput"]


@strawberry.input
class ListingCreateInput:
    slug: str = strawberry.field(
        description="The listing's address: 3-80 lowercase letters, digits and inner hyphens. "
        "It never changes."
    )
    name: str
    category: str = strawberry.field(description="A lowercase token, e.g. 'shipping'.")
    tagline: str = ""
    description: str = ""
    screenshots: list[str] = strawberry.field(
        default_factory=list, description="Up to 10 https URLs."
    )
    support_url: str = ""

    def to_content(self) -> ListingContent:
        return ListingContent(
            name=self.name,
            tagline=self.tagline,
            description=self.description,
            category=self.category,
            screenshots=tuple(self.screenshots),
            support_url=self.support_url,
        )


@strawberry.input(description="Fields left out keep the latest revision's value.")
class ListingUpdateInput:
    name: str | None = None
    category: str | None = None
    tagline: str | None = None
    description: str | None = None
    screenshots: list[str] | None = None
    support_url: str | None = None

    def to_edit(self) -> ListingEdit:
        return ListingEdit(
            name=self.name,
            tagline=self.tagline,
            description=self.description,
            category=self.category,
            screenshots=tuple(self.screenshots) if self.screenshots is not None else None,
            support_url=self.support_url,
        )


def _minor_units(money: MoneyInput, currency: str, field: str) -> int:
    try:
        return parse_amount(money.amount, currency)
    except MoneyError as exc:
        raise DomainError.one(MarketplaceErrorCode.INVALID, str(exc), "input", field) from exc


@strawberry.input
class PricingPlanInput:
    name: str
    kind: PricingPlanKindEnum  # type: ignore[valid-type]
    price: MoneyInput = strawberry.field(
        description="Recurring: per period; usage: per unit; one-time: once; free: 0."
    )
    interval: PricingPlanIntervalEnum | None = strawberry.field(  # type: ignore[valid-type]
        default=None,
        description="Recurring: MONTH or YEAR (required). Usage: the cap's period (MONTH).",
    )
    trial_days: int = strawberry.field(default=0, description="Recurring only: 0-365.")
    usage_cap: MoneyInput | None = strawberry.field(
        default=None, description="Usage only (required): the most a period costs."
    )

    def to_draft(self) -> PlanDraft:
        currency = self.price.currency_code.strip().upper()
        if currency not in CURRENCIES:
            raise DomainError.one(
                MarketplaceErrorCode.INVALID,
                "An ISO 4217 currency Agora supports.",
                "input",
                "price",
                "currencyCode",
            )
        cap = None
        if self.usage_cap is not None:
            if self.usage_cap.currency_code.strip().upper() != currency:
                raise DomainError.one(
                    MarketplaceErrorCode.INVALID,
                    "The cap is in the price's currency.",
                    "input",
                    "usageCap",
                    "currencyCode",
                )
            cap = _minor_units(self.usage_cap, currency, "usageCap")
        return PlanDraft(
            name=self.name,
            kind=PlanKind(self.kind),
            currency=currency,
            amount=_minor_units(self.price, currency, "price"),
            interval=PlanInterval(self.interval) if self.interval is not None else None,
            trial_days=self.trial_days,
            usage_cap=cap,
        )
