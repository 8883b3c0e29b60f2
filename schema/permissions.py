"""Declarative permissions: a protected field names the (object, action) it needs.

Every check goes through ``Authorizer`` (Casbin). The domain is the request's shop unless the
field says ``platform``; the role matrix test reads these declarations off the schema.
"""

from __future__ import annotations

from typing import Any, Literal

from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from app.security.rbac import PLATFORM, shop_domain
from schema.auditing import record_denial
from schema.errors import ApiErrorCode

__all__ = ["Allowed", "requires"]


class Allowed(BasePermission):
    """Allows the field when Casbin grants the caller ``act`` on ``obj`` in the domain."""

    message = "You are not allowed to do this."
    error_extensions = {"code": ApiErrorCode.FORBIDDEN.value}

    def __init__(self, obj: str, act: str, *, domain: Literal["shop", "platform"] = "shop") -> None:
        self.obj = obj
        self.act = act
        self.domain = domain

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        domain = PLATFORM if self.domain == "platform" else shop_domain(context.require_shop().id)
        if await context.allows(self.obj, self.act, domain):
            return True
        # Recorded before answering; if the record cannot be written the caller gets INTERNAL.
        await record_denial(info, domain)
        return False


def requires(
    obj: str, act: str, *, domain: Literal["shop", "platform"] = "shop"
) -> list[FieldExtension]:
    """``@strawberry.mutation(extensions=requires("catalog", "write"))``."""
    return [
        PermissionExtension(permissions=[Allowed(obj, act, domain=domain)], use_directives=False)
    ]
