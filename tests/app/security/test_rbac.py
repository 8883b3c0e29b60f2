"""The baseline policy keeps DESIGN.md's roles apart."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from app.security.rbac import (
    PLATFORM,
    Authorizer,
    RoleAssignment,
    baseline_rules,
    validate_assignment,
)

SHOP = "shop:7"
PARTNER = "partner:3"


@pytest.fixture
def authorizer(app: Starlette) -> Authorizer:
    return app.state.services.authorizer


def allows(authorizer: Authorizer, role: str, domain: str, obj: str, act: str) -> bool:
    return authorizer.allows([RoleAssignment(role, domain)], domain, obj, act)


@pytest.mark.anyio
async def test_every_design_role_has_policy(authorizer: Authorizer) -> None:
    roles = {
        rule[1] for rule in baseline_rules() if rule[0] == "p" and not rule[1].startswith("scope:")
    }
    assert roles == {
        "shopper",
        "business",
        "owner",
        "developer",
        "ops",
        "finance",
        "community_admin",
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("role", "domain", "obj", "act", "expected"),
    [
        ("business", SHOP, "catalog", "write", True),
        ("business", SHOP, "pii", "read", True),
        ("shopper", SHOP, "catalog", "write", False),
        ("shopper", SHOP, "own_cart", "write", True),
        ("business", PARTNER, "listing", "write", True),
        ("business", PARTNER, "catalog", "write", False),
        ("owner", PARTNER, "listing", "write", True),
        ("owner", PARTNER, "app", "write", True),
        ("owner", PARTNER, "payout_account", "write", True),
        ("developer", PARTNER, "payout_account", "write", False),
        ("developer", PARTNER, "install", "write", False),
        ("owner", SHOP, "catalog", "write", False),
        ("ops", PLATFORM, "carrier", "write", True),
        ("ops", PLATFORM, "settlement_run", "pay", False),
        ("finance", PLATFORM, "settlement_run", "approve", True),
        ("finance", PLATFORM, "partner_tier", "write", False),
        ("community_admin", PLATFORM, "partner_tier", "write", True),
        ("community_admin", PLATFORM, "settlement_run", "pay", False),
        ("ops", SHOP, "catalog", "write", False),
    ],
)
async def test_role_matrix(
    authorizer: Authorizer, role: str, domain: str, obj: str, act: str, expected: bool
) -> None:
    assert allows(authorizer, role, domain, obj, act) is expected


@pytest.mark.anyio
async def test_a_role_held_in_one_shop_grants_nothing_in_another(authorizer: Authorizer) -> None:
    assert (
        authorizer.allows([RoleAssignment("business", "shop:1")], "shop:2", "catalog", "write")
        is False
    )


@pytest.mark.parametrize(
    ("role", "domain"), [("ops", SHOP), ("shopper", PLATFORM), ("owner", SHOP), ("king", PLATFORM)]
)
def test_roles_are_only_granted_in_their_kind_of_domain(role: str, domain: str) -> None:
    with pytest.raises(ValueError, match="role"):
        validate_assignment(role, domain)
