"""Declarative permissions: a protected field names the (object, action) it needs.

Every check goes through ``Authorizer`` (Casbin). The domain is the request's shop unless the
field says ``platform``; the role matrix test reads these declarations off the schema.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Literal

from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from app.security.rbac import PLATFORM, partner_domain, shop_domain
from schema.auditing import record_denial
from schema.errors import ApiErrorCode

__all__ = ["NO_PARTNER", "Allowed", "DomainKind", "PartnerOf", "requires"]


DomainKind = Literal["shop", "platform", "partner"]
PartnerOf = Callable[[Info, dict[str, Any]], Awaitable[int | None]]
"""Which partner a call acts for, from its arguments (a partner ID, or an app's partner)."""

NO_PARTNER = "partner:none"


class Allowed(BasePermission):
    """Allows the field when Casbin grants the caller ``act`` on ``obj`` in the domain.

    A partner-domain field names how to find its partner (``partner_of``); the partner found is
    kept on the context for the resolver and its audit record. A partner that does not exist is
    refused like one the caller has no role in, so IDs reveal nothing.
    """

    message = "You are not allowed to do this."
    error_extensions = {"code": ApiErrorCode.FORBIDDEN.value}

    def __init__(
        self,
        obj: str,
        act: str,
        *,
        domain: DomainKind = "shop",
        partner_of: PartnerOf | None = None,
    ) -> None:
        if (domain == "partner") != (partner_of is not None):
            raise ValueError("a partner-domain permission needs partner_of, and only it")
        self.obj = obj
        self.act = act
        self.domain = domain
        self.partner_of = partner_of

    async def _domain(self, info: Info, kwargs: dict[str, Any]) -> str:
        context = info.context
        if self.domain == "platform":
            return PLATFORM
        if self.partner_of is not None:
            context.partner_id = await self.partner_of(info, kwargs)
            return partner_domain(context.partner_id) if context.partner_id else NO_PARTNER
        return shop_domain(context.require_shop().id)

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        domain = await self._domain(info, kwargs)
        if await context.allows(self.obj, self.act, domain):
            return True
        # Recorded before answering; if the record cannot be written the caller gets INTERNAL.
        await record_denial(info, domain)
        return False


def requires(
    obj: str, act: str, *, domain: DomainKind = "shop", partner_of: PartnerOf | None = None
) -> list[FieldExtension]:
    """``@strawberry.mutation(extensions=requires("catalog", "write"))``."""
    return [
        PermissionExtension(
            permissions=[Allowed(obj, act, domain=domain, partner_of=partner_of)],
            use_directives=False,
        )
    ]
