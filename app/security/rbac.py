"""Casbin RBAC with domains: one enforcer for users and apps alike.

Casbin holds the policy (role → domain pattern → object → action) and the role inheritance,
loaded once from the rule table. A subject's own role assignments (``g, user:7, business,
shop:3``) are in the same table but are read per request instead of held in memory: shops
have millions of shoppers, and a role revoked in one worker must not stay granted in another.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

import casbin
from casbin.util import key_match
from casbin_async_sqlalchemy_adapter.adapter import Adapter, Filter, create_casbin_rule_model
from sqlalchemy import Index, and_, delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db import Base
from app.security.oauth.scopes import SCOPES, scope_role

__all__ = [
    "PLATFORM",
    "POLICY_SUBJECTS",
    "ROLES",
    "SCOPE_ROLES",
    "Authorizer",
    "CasbinRule",
    "RoleAssignment",
    "assign_role",
    "baseline_rules",
    "members_of",
    "new_enforcer",
    "partner_domain",
    "revoke_role",
    "roles_of",
    "shop_domain",
    "sync_baseline_policy",
]

PLATFORM = "platform"
ROLES = ("shopper", "business", "owner", "developer", "ops", "finance", "community_admin")
ROLE_DOMAINS = {
    "shopper": "shop",
    "business": "shop|partner",
    "owner": "partner",
    "developer": "partner",
    "ops": PLATFORM,
    "finance": PLATFORM,
    "community_admin": PLATFORM,
}

# Granted OAuth scopes act as roles in the installing shop. They are never assigned in the rule
# table (``assign_role`` refuses them): an app's access token carries them.
SCOPE_ROLES = tuple(scope_role(scope) for scope in SCOPES)
# The subjects whose policy rules load into the enforcer and ship in policy.csv.
POLICY_SUBJECTS = (*ROLES, *SCOPE_ROLES)

CasbinRule = create_casbin_rule_model(Base)
# Role assignments are looked up by subject on every authenticated request.
Index("ix_casbin_rule_subject", CasbinRule.__table__.c.ptype, CasbinRule.__table__.c.v0)


def shop_domain(shop_id: int) -> str:
    return f"shop:{shop_id}"


def partner_domain(partner_id: int) -> str:
    return f"partner:{partner_id}"


def domain_kind(domain: str) -> str:
    return domain.split(":", 1)[0]


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    role: str
    domain: str


def baseline_rules() -> list[tuple[str, ...]]:
    """The shipped policy file as (ptype, v0, v1, ...) tuples."""
    text = resources.files("app.security").joinpath("policy.csv").read_text()
    rows = csv.reader(line for line in text.splitlines() if line and not line.startswith("#"))
    return [tuple(cell.strip() for cell in row) for row in rows]


async def sync_baseline_policy(session: AsyncSession) -> int:
    """Insert every baseline rule that the table lacks. Returns how many were added."""
    existing = {
        (r.ptype, r.v0, r.v1, r.v2, r.v3)
        for r in (
            await session.scalars(select(CasbinRule).where(CasbinRule.v0.in_(POLICY_SUBJECTS)))
        ).all()
    }
    added = 0
    for rule in baseline_rules():
        padded = (*rule, *([None] * (5 - len(rule))))[:5]
        if padded not in existing:
            session.add(CasbinRule(ptype=rule[0], **{f"v{i}": v for i, v in enumerate(rule[1:])}))
            added += 1
    return added


def validate_assignment(role: str, domain: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; roles are {', '.join(ROLES)}")
    if domain_kind(domain) not in ROLE_DOMAINS[role].split("|"):
        raise ValueError(f"role {role!r} is held in a {ROLE_DOMAINS[role]} domain, not {domain!r}")


async def assign_role(session: AsyncSession, subject: str, role: str, domain: str) -> bool:
    """Grant ``role`` in ``domain`` inside the caller's transaction. False if already held."""
    validate_assignment(role, domain)
    held = await session.scalar(
        select(CasbinRule.id).where(
            and_(
                CasbinRule.ptype == "g",
                CasbinRule.v0 == subject,
                CasbinRule.v1 == role,
                CasbinRule.v2 == domain,
            )
        )
    )
    if held is not None:
        return False
    session.add(CasbinRule(ptype="g", v0=subject, v1=role, v2=domain))
    return True


async def revoke_role(session: AsyncSession, subject: str, role: str, domain: str) -> bool:
    """Take ``role`` in ``domain`` away inside the caller's transaction. False if not held."""
    removed = await session.execute(
        delete(CasbinRule)
        .where(
            CasbinRule.ptype == "g",
            CasbinRule.v0 == subject,
            CasbinRule.v1 == role,
            CasbinRule.v2 == domain,
        )
        .returning(CasbinRule.id)
        .execution_options(synchronize_session=False)
    )
    return removed.first() is not None


async def members_of(session: AsyncSession, domain: str) -> list[tuple[str, str]]:
    """Everyone holding a role in ``domain``: (subject, role)."""
    rows = await session.execute(
        select(CasbinRule.v0, CasbinRule.v1).where(
            CasbinRule.ptype == "g", CasbinRule.v2 == domain, CasbinRule.v0.like("user:%")
        )
    )
    return [(subject, role) for subject, role in rows]


async def roles_of(session: AsyncSession, subject: str) -> list[RoleAssignment]:
    rows = await session.execute(
        select(CasbinRule.v1, CasbinRule.v2).where(
            CasbinRule.ptype == "g", CasbinRule.v0 == subject
        )
    )
    return [RoleAssignment(role=role, domain=domain) for role, domain in rows]


# Policy is looked up by the request's object and action (positions 2 and 3 of r and p).
_INDEX_BY_OBJECT_AND_ACTION = (2, 3)


def new_enforcer() -> casbin.Enforcer:
    return casbin.FastEnforcer(
        str(resources.files("app.security").joinpath("model.conf")),
        cache_key_order=_INDEX_BY_OBJECT_AND_ACTION,
    )


class Authorizer:
    """The one enforcement point. Everything that asks "may X do Y here?" comes through here.

    The enforcer indexes policy by (object, action), so a check looks only at the few rules for
    that pair however many rules there are (``bench/rbac.py`` measures 25,000 against 50). A
    reload builds a new enforcer and swaps it in, so a check never sees a half-loaded policy.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._enforcer: casbin.Enforcer = new_enforcer()
        self.version = 0

    @classmethod
    async def load(cls, engine: AsyncEngine) -> Authorizer:
        authorizer = cls(engine)
        await authorizer.reload()
        return authorizer

    async def reload(self) -> None:
        enforcer = new_enforcer()
        only_policy = Filter()
        only_policy.ptype = ["p", "g"]
        only_policy.v0 = list(POLICY_SUBJECTS)
        adapter = Adapter(self._engine, db_class=CasbinRule, filtered=True)
        await adapter.load_filtered_policy(enforcer.get_model(), only_policy)
        enforcer.get_role_manager().add_domain_matching_func(key_match)
        enforcer.build_role_links()
        self._enforcer = enforcer
        self.version += 1

    def allows(
        self, assignments: Iterable[RoleAssignment], domain: str, obj: str, act: str
    ) -> bool:
        return any(
            self._enforcer.enforce(a.role, domain, obj, act)
            for a in assignments
            if a.domain == domain
        )
