"""What every marketplace module shares: its error type, and how a field finds its partner.

Partner-domain permissions need the partner a call acts for before it runs; these resolvers
find it from the field's arguments (a partner ID, or the app, version or listing it names) in
one statement. An ID that is malformed or names nothing resolves to None and is refused like
a partner the caller has no role in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy import Select, select
from strawberry.types import Info

from app.errors import DomainError
from marketplace.app_models import App, AppVersion, Installation
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import Listing
from marketplace.models import Decision
from schema.errors import UserError, user_errors
from schema.node import parse_id

__all__ = [
    "MarketplaceError",
    "MarketplaceErrorCodeEnum",
    "ReviewDecision",
    "marketplace_errors",
    "partner_of_app",
    "partner_of_input",
    "partner_of_listing",
    "partner_of_partner",
    "partner_of_version",
    "pk_of",
]

MarketplaceErrorCodeEnum = strawberry.enum(MarketplaceErrorCode, name="MarketplaceErrorCode")
ReviewDecision = strawberry.enum(Decision, name="ReviewDecision")


@strawberry.type
class MarketplaceError(UserError):
    code: MarketplaceErrorCodeEnum  # type: ignore[valid-type]


def marketplace_errors(error: DomainError | None) -> list[MarketplaceError]:
    return [] if error is None else user_errors(error, MarketplaceError, MarketplaceErrorCodeEnum)


def pk_of(global_id: Any, type_name: str, *field: str) -> int:
    """An input ID's key, or NOT_FOUND in the payload for one that is malformed or mistyped."""
    parsed = parse_id(str(global_id))
    if parsed is None or parsed[0] != type_name:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, f"No such {type_name}.", *field)
    return parsed[1]


def _key(value: Any, type_name: str) -> int | None:
    parsed = parse_id(str(value)) if value is not None else None
    return parsed[1] if parsed is not None and parsed[0] == type_name else None


PartnerOf = Callable[[Info, dict[str, Any]], Awaitable[int | None]]


def _via(argument: str, type_name: str, query: Callable[[int], Select[Any]]) -> PartnerOf:
    async def resolve(info: Info, kwargs: dict[str, Any]) -> int | None:
        key = _key(kwargs.get(argument), type_name)
        if key is None:
            return None
        async with info.context.db.reader() as session:
            return await session.scalar(query(key))

    return resolve


def partner_of_partner(argument: str = "partner_id") -> PartnerOf:
    """Arguments are named as in Python (``partner_id``), as strawberry passes them."""

    async def resolve(_: Info, kwargs: dict[str, Any]) -> int | None:
        return _key(kwargs.get(argument), "Partner")

    return resolve


def partner_of_app(argument: str = "app_id") -> PartnerOf:
    return _via(argument, "App", lambda key: select(App.partner_id).where(App.id == key))


def partner_of_version(argument: str = "version_id") -> PartnerOf:
    return _via(
        argument,
        "AppVersion",
        lambda key: (
            select(App.partner_id)
            .join(AppVersion, AppVersion.app_id == App.id)
            .where(AppVersion.id == key)
        ),
    )


def partner_of_listing(argument: str = "listing_id") -> PartnerOf:
    return _via(
        argument, "Listing", lambda key: select(Listing.partner_id).where(Listing.id == key)
    )


def partner_of_input(field: str, inner: Callable[[str], PartnerOf]) -> PartnerOf:
    """For mutations taking ``input: {...}``: find the partner from one field of the input."""
    resolver = inner("value")

    async def resolve(info: Info, kwargs: dict[str, Any]) -> int | None:
        given = kwargs.get("input")
        value = getattr(given, field, None) if given is not None else None
        return await resolver(info, {"value": value})

    return resolve


def installation_query(key: int) -> Select[Any]:
    return (
        select(App.partner_id)
        .join(Installation, Installation.app_id == App.id)
        .where(Installation.id == key)
    )
