"""The scope catalogue and its Casbin policy agree, and scope roles come only from tokens."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from app.security.oauth.roles import granted_roles
from app.security.oauth.scopes import SCOPES, STRATEGIC_ONLY, scope_role
from app.security.rbac import RoleAssignment, baseline_rules, validate_assignment


def test_every_scope_has_policy_and_every_scope_rule_names_a_scope() -> None:
    subjects = {rule[1] for rule in baseline_rules() if rule[0] == "p"}
    scope_subjects = {s for s in subjects if s.startswith("scope:")}
    assert scope_subjects == {scope_role(s) for s in SCOPES}
    assert set(SCOPES) >= STRATEGIC_ONLY
    # Scope rules grant only in shops.
    assert all(r[2] == "shop:*" for r in baseline_rules() if r[1].startswith("scope:"))


def test_scope_roles_cannot_be_assigned_to_anyone() -> None:
    with pytest.raises(ValueError, match="unknown role"):
        validate_assignment(scope_role("goods:write"), "shop:1")


def test_granted_roles_need_a_shop_and_ignore_unknown_scopes() -> None:
    assert granted_roles({"goods:write"}, None) == []
    assert granted_roles({"goods:write", "made:up"}, 7) == [
        RoleAssignment("scope:goods:write", "shop:7")
    ]


@pytest.mark.anyio
async def test_scope_rules_are_loaded_into_the_enforcer(app: Starlette) -> None:
    authorizer = app.state.services.authorizer
    write = granted_roles({"goods:write"}, 7)
    read = granted_roles({"goods:read"}, 7)
    assert authorizer.allows(write, "shop:7", "catalog", "write")
    assert not authorizer.allows(read, "shop:7", "catalog", "write")
    assert authorizer.allows(read, "shop:7", "catalog", "read_unpublished")
    assert not authorizer.allows(write, "shop:8", "catalog", "write")
    assert authorizer.allows(granted_roles({"customers:read_pii"}, 7), "shop:7", "pii", "read")
