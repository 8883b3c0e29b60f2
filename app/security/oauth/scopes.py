"""The scope catalogue of DESIGN.md: what an app may ask a shop for.

A scope is not checked by name anywhere in the API. Each granted scope becomes a Casbin role
(``scope:<name>``) in the installing shop, and ``policy.csv`` maps that role to (object,
action) pairs, so apps and users go through the one enforcer.
"""

from __future__ import annotations

__all__ = ["SCOPES", "STRATEGIC_ONLY", "parse_scope", "scope_role"]

SCOPES: tuple[str, ...] = (
    "goods:read",
    "goods:write",
    "trade:read",
    "trade:write",
    "logistics:read",
    "logistics:write",
    "customers:read_pii",
    "billing:usage",
    "webhooks",
    "extensions:shipping_rates",
    "extensions:recommendations",
)

# Only strategic partners may be granted these. Partner tiers do not exist yet, so this is
# declared here and enforced once the marketplace can say which tier a client belongs to.
STRATEGIC_ONLY: frozenset[str] = frozenset(
    {"extensions:shipping_rates", "extensions:recommendations"}
)

SCOPE_ROLE_PREFIX = "scope:"


def scope_role(scope: str) -> str:
    """The Casbin role a granted scope stands for."""
    return f"{SCOPE_ROLE_PREFIX}{scope}"


def parse_scope(value: str | None) -> list[str]:
    """A space-separated scope string as a sorted list without duplicates."""
    return sorted(set((value or "").split()))
