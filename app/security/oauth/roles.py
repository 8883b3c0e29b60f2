"""An app's roles in a shop: one ``scope:<name>`` role per granted scope.

The shop comes from the install token (its ``shop`` claim), never from the request, so an app
holds no role in any other shop; a client-credentials token names no shop and holds none.
"""

from __future__ import annotations

from collections.abc import Iterable

from app.security.oauth.scopes import SCOPES, scope_role
from app.security.rbac import RoleAssignment, shop_domain

__all__ = ["granted_roles"]


def granted_roles(scopes: Iterable[str], shop_id: int | None) -> list[RoleAssignment]:
    if shop_id is None:
        return []
    domain = shop_domain(shop_id)
    return [RoleAssignment(scope_role(s), domain) for s in sorted(set(scopes)) if s in SCOPES]
