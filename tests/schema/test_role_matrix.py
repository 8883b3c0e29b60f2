"""The role matrix, generated from the schema.

Every mutation and every protected query field needs a row here naming who may call it, or the
completeness test fails; so each new operation extends this table. Every cell is then called
through HTTP as that role, and every privileged call, allowed or denied, must leave exactly one
audit record with the request's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette
from strawberry.permission import PermissionExtension

from app.goods.models import Variant
from app.security.audit import AuditEvent
from schema import build_schema
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.matrix_billing import BILLING_ROWS
from tests.support.matrix_listings import LISTING_ROWS
from tests.support.matrix_logistics import LOGISTICS_ROWS
from tests.support.matrix_marketplace import MARKETPLACE_ROWS
from tests.support.matrix_payouts import PAYOUT_ROWS
from tests.support.matrix_settlement import SETTLEMENT_ROWS
from tests.support.matrix_trade import TRADE_ROWS
from tests.support.matrix_webhooks import WEBHOOK_ROWS

pytestmark = pytest.mark.anyio

Request = tuple[str, dict[str, Any]]
ROLES: dict[str, str | None] = {
    # who -> the domain kind their role is held in (None: no role at all)
    "anonymous": None,
    "customer": None,  # signed in, no role here
    "shopper": "shop",
    "business": "shop",
    "owner": "partner",
    "partner_business": "partner",
    "developer": "partner",
    "ops": "platform",
    "finance": "platform",
    "community_admin": "platform",
}
EVERYONE = frozenset(ROLES)
SHOP_STAFF = frozenset({"business"})


@dataclass(frozen=True)
class Row:
    allowed: frozenset[str]
    request: Callable[[World], Awaitable[Request]]
    privileged: bool = True


async def _product(world: World) -> str:
    return gid("Product", await world.product(prices=("5.00", "6.00")))


async def _variant(world: World) -> tuple[str, str]:
    product = await world.product(prices=("5.00", "6.00"))
    async with world.services.db.reader() as session:
        variant = await session.scalar(
            select(Variant.id).where(Variant.product_id == product).limit(1)
        )
    return gid("Product", product), gid("ProductVariant", variant)


def _money(amount: str = "3.00") -> dict[str, str]:
    return {"amount": amount, "currencyCode": "EUR"}


async def product_create(world: World) -> Request:
    return 'mutation { productCreate(input: {title: "M"}) { errors { code } } }', {}


async def product_update(world: World) -> Request:
    return (
        'mutation($id: ID!) { productUpdate(id: $id, input: {title: "N"}) { errors { code } } }',
        {"id": await _product(world)},
    )


async def product_archive(world: World) -> Request:
    return "mutation($id: ID!) { productArchive(id: $id) { errors { code } } }", {
        "id": await _product(world)
    }


async def variants_create(world: World) -> Request:
    query = "mutation($p: ID!, $v: [VariantCreateInput!]!) { productVariantsBulkCreate(productId: $p, variants: $v) { errors { code } } }"
    variants = [{"sku": unique("S"), "price": _money(), "optionValues": [unique("o")]}]
    return query, {"p": await _product(world), "v": variants}


async def variants_update(world: World) -> Request:
    product, variant = await _variant(world)
    query = "mutation($p: ID!, $v: [VariantUpdateInput!]!) { productVariantsBulkUpdate(productId: $p, variants: $v) { errors { code } } }"
    return query, {"p": product, "v": [{"id": variant, "price": _money("4.00")}]}


async def variants_delete(world: World) -> Request:
    product, variant = await _variant(world)
    query = "mutation($p: ID!, $ids: [ID!]!) { productVariantsBulkDelete(productId: $p, variantIds: $ids) { errors { code } } }"
    return query, {"p": product, "ids": [variant]}


async def category_create(world: World) -> Request:
    return "mutation($n: String) { categoryCreate(input: {name: $n}) { errors { code } } }", {
        "n": unique("Cat")
    }


async def category_update(world: World) -> Request:
    return (
        'mutation($id: ID!) { categoryUpdate(id: $id, input: {name: "Renamed"}) { errors { code } } }',
        {"id": gid("Category", await world.category("C"))},
    )


async def warehouse_create(world: World) -> Request:
    return (
        'mutation($c: String!) { warehouseCreate(input: {code: $c, name: "W"}) { errors { code } } }',
        {"c": unique("W")},
    )


async def inventory_adjust(world: World) -> Request:
    _, variant = await _variant(world)
    query = "mutation($i: InventoryAdjustInput!) { inventoryAdjust(input: $i) { errors { code } } }"
    payload = {
        "variantId": variant,
        "warehouseId": gid("Warehouse", await world.warehouse()),
        "delta": 5,
        "reason": "RECEIVED",
        "idempotencyKey": unique("k"),
    }
    return query, {"i": payload}


async def rate_limit_override(world: World) -> Request:
    query = "mutation($i: RateLimitOverrideInput!) { rateLimitOverrideSet(input: $i) { errors { code } } }"
    expires = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    return query, {
        "i": {
            "principal": f"user:{uuid.uuid4().int % 10**9}",
            "rate": 5.0,
            "burst": 10,
            "expiresAt": expires,
        }
    }


async def customer_register(world: World) -> Request:
    query = 'mutation($e: String!) { customerRegister(input: {email: $e, password: "long enough pass"}) { errors { code } } }'
    return query, {"e": f"{unique('r')}@example.com"}


async def token_create(world: World) -> Request:
    return (
        'mutation { tokenCreate(email: "nobody@example.com", password: "wrong password!") { errors { code } } }',
        {},
    )


async def token_refresh(world: World) -> Request:
    return 'mutation { tokenRefresh(refreshToken: "unknown") { errors { code } } }', {}


async def token_revoke(world: World) -> Request:
    return 'mutation { tokenRevoke(refreshToken: "unknown") { revoked } }', {}


async def warehouses(world: World) -> Request:
    return "{ warehouses { code } }", {}


async def inventory_levels(world: World) -> Request:
    await world.product()
    return "{ products(first: 1) { nodes { variants { inventoryLevels { onHand } } } } }", {}


async def audit_events(world: World) -> Request:
    return "{ auditEvents(first: 1) { nodes { action } } }", {}


MATRIX: dict[str, Row] = {
    "Mutation.productCreate": Row(SHOP_STAFF, product_create),
    "Mutation.productUpdate": Row(SHOP_STAFF, product_update),
    "Mutation.productArchive": Row(SHOP_STAFF, product_archive),
    "Mutation.productVariantsBulkCreate": Row(SHOP_STAFF, variants_create),
    "Mutation.productVariantsBulkUpdate": Row(SHOP_STAFF, variants_update),
    "Mutation.productVariantsBulkDelete": Row(SHOP_STAFF, variants_delete),
    "Mutation.categoryCreate": Row(SHOP_STAFF, category_create),
    "Mutation.categoryUpdate": Row(SHOP_STAFF, category_update),
    "Mutation.warehouseCreate": Row(SHOP_STAFF, warehouse_create),
    "Mutation.inventoryAdjust": Row(SHOP_STAFF, inventory_adjust),
    "Mutation.rateLimitOverrideSet": Row(frozenset({"ops"}), rate_limit_override),
    "Mutation.customerRegister": Row(EVERYONE, customer_register, privileged=False),
    "Mutation.tokenCreate": Row(EVERYONE, token_create, privileged=False),
    "Mutation.tokenRefresh": Row(EVERYONE, token_refresh, privileged=False),
    "Mutation.tokenRevoke": Row(EVERYONE, token_revoke, privileged=False),
    "Query.warehouses": Row(SHOP_STAFF, warehouses),
    "ProductVariant.inventoryLevels": Row(SHOP_STAFF, inventory_levels),
    "Query.auditEvents": Row(frozenset({"ops", "community_admin"}), audit_events),
}
# Each domain keeps its rows beside its test support; None means everyone, not privileged.
for _rows in (
    TRADE_ROWS,
    LOGISTICS_ROWS,
    MARKETPLACE_ROWS,
    LISTING_ROWS,
    BILLING_ROWS,
    WEBHOOK_ROWS,
    PAYOUT_ROWS,
    SETTLEMENT_ROWS,
):
    for _name, (_allowed, _builder) in _rows.items():
        MATRIX[_name] = (
            Row(EVERYONE, _builder, privileged=False)
            if _allowed is None
            else Row(_allowed, _builder)
        )


def _operations() -> set[str]:
    """Every mutation, and every field anywhere that declares a permission."""
    schema = build_schema()
    graphql_name = schema.config.name_converter.get_graphql_name
    mutation = schema.get_type_by_name("Mutation")
    found = {f"Mutation.{graphql_name(field)}" for field in mutation.fields}  # type: ignore[union-attr]
    for concrete in schema.schema_converter.type_map.values():
        for field in getattr(concrete.definition, "fields", ()):
            if any(isinstance(e, PermissionExtension) for e in field.extensions):
                found.add(f"{concrete.definition.name}.{graphql_name(field)}")
    return found


def test_every_operation_has_a_row_for_every_role() -> None:
    operations = _operations()
    assert sorted(operations - MATRIX.keys()) == [], "add these operations to the role matrix"
    assert sorted(MATRIX.keys() - operations) == [], (
        "these rows name operations that no longer exist"
    )
    for name, row in MATRIX.items():
        assert row.allowed <= EVERYONE, name


async def _token(world: World, who: str) -> str | None:
    if who == "anonymous":
        return None
    if who == "customer":
        return (await world.user())[1]
    role = "business" if who == "partner_business" else who
    partner = f"partner:{world.partner_id or 1}"
    domain = {"shop": None, "partner": partner, "platform": "platform"}[ROLES[who] or "shop"]
    return (await world.user(role, domain=domain))[1]


async def _audited(app: Starlette, request_id: str) -> list[str]:
    async with app.state.services.db.reader() as session:
        rows = await session.scalars(
            select(AuditEvent.outcome).where(AuditEvent.request_id == request_id)
        )
        return [str(getattr(o, "value", o)) for o in rows]


@pytest.mark.parametrize("who", sorted(ROLES))
@pytest.mark.parametrize("operation", sorted(MATRIX))
async def test_each_cell_through_http(
    app: Starlette, world: World, gql: GraphQLClient, operation: str, who: str
) -> None:
    row = MATRIX[operation]
    query, variables = await row.request(world)
    request_id = f"matrix-{uuid.uuid4().hex[:16]}"
    result = await gql(
        query,
        variables,
        shop=world.handle,
        token=await _token(world, who),
        headers={"x-request-id": request_id},
    )
    assert result.status == 200, result.body
    denied = "FORBIDDEN" in result.codes
    assert denied is (who not in row.allowed), (operation, who, result.body)
    if not denied:
        assert result.errors == [], result.errors
    if not denied and row.privileged:  # an allowed privileged call really did its work
        assert all(
            not (v or {}).get("errors") for v in (result.data or {}).values() if isinstance(v, dict)
        ), result.data
    audited = await _audited(app, request_id)
    if denied:
        assert audited == ["denied"]
    elif row.privileged and operation.startswith("Mutation."):
        assert audited == ["allowed"]
    else:
        assert audited == []
