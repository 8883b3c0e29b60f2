"""Who may read a partner's money: finance on the platform, or the partner's own owner.

Shared by the settlement queries that name a partner (``partnerStatements(partnerId)``) and the
fields of ``Partner`` itself (``partner.statements``), so both refuse the same callers.
"""

from __future__ import annotations

from typing import Any

from strawberry.permission import PermissionExtension
from strawberry.types import Info

from app.security.rbac import PLATFORM
from schema.marketplace.common import partner_of_partner
from schema.permissions import Allowed, PartnerOf

__all__ = ["PlatformOrPartner", "ThisPartner", "finance_or_owner"]


class PlatformOrPartner(Allowed):
    """Allowed with the permission on the platform (finance), or else in the partner the call
    names (its owner). A refusal is recorded in the partner's domain."""

    def __init__(self, obj: str, act: str, partner_of: PartnerOf) -> None:
        super().__init__(obj, act, domain="partner", partner_of=partner_of)

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        if await info.context.allows(self.obj, self.act, PLATFORM):
            assert self.partner_of is not None
            info.context.partner_id = await self.partner_of(info, kwargs)
            return True
        return await super().has_permission(source, info, **kwargs)


class ThisPartner(PlatformOrPartner):
    """``PlatformOrPartner`` for a field of ``Partner``: the partner is the object itself."""

    def __init__(self, obj: str, act: str) -> None:
        super().__init__(obj, act, partner_of_partner())

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return await super().has_permission(source, info, **kwargs, partner_id=source.id)


def finance_or_owner(partner_of: PartnerOf | None = None) -> list[Any]:
    """Finance, or the owner of the partner named by ``partner_of`` (by default the ``Partner``
    the field belongs to)."""
    permission = (
        PlatformOrPartner("statement", "read", partner_of)
        if partner_of is not None
        else ThisPartner("statement", "read")
    )
    return [PermissionExtension(permissions=[permission], use_directives=False)]
