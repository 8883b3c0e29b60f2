"""Marking personal-data fields: ``@personal_field(MaskKind.PHONE)`` and the masking is done.

A marked field resolves as usual, then shows its value clear or masked (the masks live in
``app.security.masking``). It is clear when the caller

- owns the record (the object's ``owned_by(principal)`` says so),
- holds ``pii:read`` in the request's shop (Casbin: the shop's ``business`` role has it, and so
  does an app installed in that shop with the ``customers:read_pii`` scope),

and masked otherwise, for anonymous callers too. The shop check is asked once per request and
its verdict kept on the request's state, so on a list of a thousand customers every field
after the first decides synchronously from data already at hand. The schema-walk test fails
when a field named like personal data is not marked; the SDL shows marks as
``@personalData(kind: ...)``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import strawberry
from strawberry.extensions import FieldExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from app.security.masking import MaskKind, mask
from app.security.principal import Principal
from app.security.rbac import shop_domain

__all__ = [
    "PersonalDataMask",
    "PersonalRecord",
    "mask_kind_of",
    "personal_field",
]

_VERDICT = "personal_data_clear"

PersonalDataKind = strawberry.enum(MaskKind, name="PersonalDataKind")


@strawberry.schema_directive(
    locations=[Location.FIELD_DEFINITION],
    description="Personal data: masked unless the caller owns it or may read the shop's.",
)
class PersonalData:
    kind: PersonalDataKind  # type: ignore[valid-type]


class PersonalRecord(Protocol):
    def owned_by(self, principal: Principal | None) -> bool:
        """True when the data is the caller's own."""
        ...


async def _holds_pii_read(context: Any) -> bool:
    if context.shop is None:
        return False
    return bool(await context.allows("pii", "read", shop_domain(context.shop.id)))


def _shop_verdict(context: Any) -> bool | asyncio.Future[bool]:
    """The caller's ``pii:read`` in the shop: a bool once known, before that the one pending
    check that every field of the request shares."""
    state = context.request.state
    verdict: bool | asyncio.Future[bool] | None = getattr(state, _VERDICT, None)
    if verdict is None:
        verdict = asyncio.ensure_future(_holds_pii_read(context))
        setattr(state, _VERDICT, verdict)
    if isinstance(verdict, asyncio.Future) and verdict.done():
        verdict = verdict.result()
        setattr(state, _VERDICT, verdict)
    return verdict


def _clearance(source: Any, info: Info) -> bool | asyncio.Future[bool]:
    context = info.context
    principal: Principal | None = context.principal
    owned_by = getattr(source, "owned_by", None)
    if owned_by is not None and owned_by(principal):
        return True
    if principal is None:
        return False
    return _shop_verdict(context)


class PersonalDataMask(FieldExtension):
    """Shows the resolved value clear or masked; sync whenever the verdict is already known."""

    def __init__(self, kind: MaskKind) -> None:
        super().__init__()
        self.kind = kind

    def _shown(self, value: Any, clear: bool) -> Any:
        if value is None or clear:
            return value
        if isinstance(value, list):
            return [None if v is None else mask(self.kind, v) for v in value]
        return mask(self.kind, value)

    def resolve(self, next_: Callable[..., Any], source: Any, info: Info, **kwargs: Any) -> Any:
        value = next_(source, info, **kwargs)
        if value is None:
            return None
        verdict = _clearance(source, info)
        if isinstance(verdict, bool):
            return self._shown(value, verdict)
        return self._later(value, verdict)

    async def _later(self, value: Any, verdict: Awaitable[bool]) -> Any:
        return self._shown(value, await verdict)

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: Info, **kwargs: Any
    ) -> Any:
        value = await next_(source, info, **kwargs)
        if value is None:
            return None
        verdict = _clearance(source, info)
        return self._shown(value, verdict if isinstance(verdict, bool) else await verdict)


def personal_field(kind: MaskKind, *, description: str | None = None) -> Any:
    """``strawberry.field`` for a personal-data field: masked by ``PersonalDataMask``, and
    marked in the SDL."""
    return strawberry.field(
        description=description,
        extensions=[PersonalDataMask(kind)],
        directives=[PersonalData(kind=kind)],
    )


def mask_kind_of(field: Any) -> MaskKind | None:
    """The mask a strawberry field is marked with, or None if it is not marked."""
    for extension in getattr(field, "extensions", None) or []:
        if isinstance(extension, PersonalDataMask):
            return extension.kind
    return None
