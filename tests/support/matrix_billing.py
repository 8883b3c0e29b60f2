"""Role-matrix rows for billing, for tests/schema/test_role_matrix.py.

No human role may report usage: only an app's install token holding ``billing:usage`` (tested
in tests/schema/marketplace/test_usage_api.py), so every cell of ``usageRecordCreate`` is a
denial. Finance reads every charge; a partner's owner reads its own partner's.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from marketplace.listing_models import PlanKind
from tests.support.billing import make_installation, make_plan
from tests.support.factories import World, gid
from tests.support.marketplace import make_app, make_partner

__all__ = ["BILLING_ROWS"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]


async def usage_record_create(world: World) -> Request:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(world, app, PlanKind.USAGE, amount=10)
    installation = await make_installation(world, app, plan, activated_at=datetime.now(UTC))
    query = "mutation($i: ID!, $k: String!) { usageRecordCreate(installationId: $i, quantity: 1, idempotencyKey: $k) { errors { code } } }"
    return query, {"i": gid("Installation", installation.id), "k": uuid.uuid4().hex}


async def charges(world: World) -> Request:
    return "{ charges(first: 1) { nodes { id } } }", {}


async def partner_charges(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = "query($p: ID!) { partnerCharges(partnerId: $p, first: 1) { nodes { id } } }"
    return query, {"p": gid("Partner", partner)}


BILLING_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.usageRecordCreate": (frozenset(), usage_record_create),
    "Query.charges": (frozenset({"finance"}), charges),
    "Query.partnerCharges": (frozenset({"owner"}), partner_charges),
}
