"""The audit trail through HTTP: what privileged calls leave behind, and who may read it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import func, select
from starlette.requests import Request

from app.goods.models import Product as ProductRow
from app.goods.models import Variant
from app.goods.products import ProductDraft, create_product
from app.security.audit import AuditEvent, AuditRecord, Outcome, record
from app.security.principal import Principal
from app.security.rbac import shop_domain
from schema.auditing import Audit, row_state
from schema.context import AgoraContext
from schema.transactions import write
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

CREATE = """
mutation Create($input: ProductCreateInput!) {
  productCreate(input: $input) { product { id title } errors { code } }
}
"""
ADJUST = """
mutation Adjust($input: InventoryAdjustInput!) {
  inventoryAdjust(input: $input) { adjustment { id } replayed errors { code } }
}
"""
EVENTS = """
query Events($filter: AuditEventFilter, $first: Int, $after: String, $last: Int, $before: String) {
  auditEvents(filter: $filter, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor node {
      id occurredAt actor roles domain action outcome targetType targetId
      before after requestId clientIp userAgent
    } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""


async def _trail(world: World) -> list[AuditEvent]:
    async with world.services.db.reader() as session:
        return list(
            await session.scalars(
                select(AuditEvent)
                .where(AuditEvent.domain == shop_domain(world.shop.id))
                .order_by(AuditEvent.id)
            )
        )


async def _variant_of(world: World, product: int) -> int:
    async with world.services.db.reader() as session:
        variant = await session.scalar(select(Variant.id).where(Variant.product_id == product))
    assert variant is not None
    return variant


async def test_a_product_create_leaves_one_allowed_record_naming_who_what_and_where(
    world: World, gql: GraphQLClient
) -> None:
    user, token = await world.user("business")
    request_id = unique("req")
    result = await gql(
        CREATE,
        {"input": {"title": "Audited Boots"}},
        shop=world.handle,
        token=token,
        headers={"X-Request-ID": request_id, "User-Agent": "backoffice/1.0"},
    )
    product_id = result.ok()["productCreate"]["product"]["id"]

    (event,) = await _trail(world)
    assert (event.actor, event.roles, event.domain) == (
        f"user:{user}",
        ["business"],
        shop_domain(world.shop.id),
    )
    assert (event.action, event.outcome) == ("productCreate", Outcome.ALLOWED)
    assert (event.target_type, event.target_id) == ("Product", product_id)
    assert event.before is None
    assert event.after["title"] == "Audited Boots"
    assert event.after["shop_id"] == world.shop.id
    assert (event.request_id, event.client_ip, event.user_agent) == (
        request_id,
        "127.0.0.1",
        "backoffice/1.0",
    )


async def test_an_update_keeps_the_state_before_and_after(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    product = await world.product("Before")
    update = """mutation($id: ID!) { productUpdate(id: $id, input: {title: "After"}) {
      errors { code } } }"""
    (await gql(update, {"id": gid("Product", product)}, shop=world.handle, token=token)).ok()

    (event,) = await _trail(world)
    assert (event.action, event.target_id) == ("productUpdate", gid("Product", product))
    assert (event.before["title"], event.after["title"]) == ("Before", "After")


def _money(amount: str) -> str:
    return f'{{amount: "{amount}", currencyCode: "EUR"}}'


async def test_every_catalog_mutation_is_recorded_once_with_its_state(
    world: World, gql: GraphQLClient
) -> None:
    _, token = await world.user("business")
    pk = await world.product("Shoe")
    product, variant = gid("Product", pk), gid("ProductVariant", await _variant_of(world, pk))
    sku = unique("SKU")
    calls = {
        "categoryCreate": 'categoryCreate(input: {name: "Shoes"})',
        "warehouseCreate": f'warehouseCreate(input: {{code: "{unique("W")}", name: "Main"}})',
        "productVariantsBulkCreate": f'productVariantsBulkCreate(productId: "{product}", '
        f'variants: [{{sku: "{sku}", price: {_money("5.00")}}}])',
        "productVariantsBulkUpdate": f'productVariantsBulkUpdate(productId: "{product}", '
        f'variants: [{{id: "{variant}", price: {_money("7.00")}}}])',
        "productVariantsBulkDelete": f'productVariantsBulkDelete(productId: "{product}", '
        f'variantIds: ["{variant}"])',
        "productArchive": f'productArchive(id: "{product}")',
    }
    for name, call in calls.items():
        mutation = f"mutation {{ {call} {{ errors {{ code }} }} }}"
        data = (await gql(mutation, shop=world.handle, token=token)).ok()
        assert data[name]["errors"] == [], name
    category = (await _trail(world))[0].target_id
    rename = f'categoryUpdate(id: "{category}", input: {{name: "Boots"}}) {{ errors {{ code }} }}'
    (await gql(f"mutation {{ {rename} }}", shop=world.handle, token=token)).ok()

    trail = await _trail(world)
    assert [e.action for e in trail] == [*calls, "categoryUpdate"]
    assert {e.outcome for e in trail} == {Outcome.ALLOWED}
    by_action = {e.action: e for e in trail}
    repriced = by_action["productVariantsBulkUpdate"]
    assert repriced.target_id == product
    assert [v["price_amount"] for v in repriced.before if v["sku"] != sku] == [1000]
    assert [v["price_amount"] for v in repriced.after if v["sku"] != sku] == [700]
    deleted = by_action["productVariantsBulkDelete"]
    assert [v["sku"] for v in deleted.after] == [sku]
    assert len(deleted.before) == 2
    archived = by_action["productArchive"]
    assert (archived.before["status"], archived.after["status"]) == ("active", "archived")
    renamed = by_action["categoryUpdate"]
    assert (renamed.before["name"], renamed.after["name"]) == ("Shoes", "Boots")


async def test_a_replayed_inventory_adjust_leaves_no_second_record(
    world: World, gql: GraphQLClient
) -> None:
    _, token = await world.user("business")
    variant = await _variant_of(world, await world.product())
    payload = {
        "variantId": gid("ProductVariant", variant),
        "warehouseId": gid("Warehouse", await world.warehouse()),
        "delta": 4,
        "reason": "RECEIVED",
        "idempotencyKey": unique("key"),
    }
    first = (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()
    again = (await gql(ADJUST, {"input": payload}, shop=world.handle, token=token)).ok()
    assert again["inventoryAdjust"]["replayed"] is True

    (event,) = await _trail(world)
    assert (event.action, event.target_type) == ("inventoryAdjust", "InventoryAdjustment")
    assert event.target_id == first["inventoryAdjust"]["adjustment"]["id"]
    assert (event.after["delta"], event.after["on_hand_after"]) == (4, 4)


async def test_a_refused_change_leaves_no_record(world: World, gql: GraphQLClient) -> None:
    """Refused by validation, nothing changed: the caller was allowed, so there is nothing to
    audit. Only changes and FORBIDDEN attempts are recorded."""
    _, token = await world.user("business")
    sku = unique("DUP")
    variants = [{"sku": sku, "price": {"amount": "1.00", "currencyCode": "EUR"}}]
    first = await gql(
        CREATE, {"input": {"title": "One", "variants": variants}}, shop=world.handle, token=token
    )
    assert first.ok()["productCreate"]["errors"] == []
    second = await gql(
        CREATE, {"input": {"title": "Two", "variants": variants}}, shop=world.handle, token=token
    )
    assert second.ok()["productCreate"]["errors"] == [{"code": "DUPLICATE_SKU"}]

    assert [e.action for e in await _trail(world)] == ["productCreate"]


@pytest.mark.parametrize("role", [None, "shopper"])
async def test_a_forbidden_attempt_is_recorded_as_denied(
    world: World, gql: GraphQLClient, role: str | None
) -> None:
    user, token = await world.user(role) if role else (None, None)
    request_id = unique("req")
    result = await gql(
        CREATE,
        {"input": {"title": "Sneaky"}},
        shop=world.handle,
        token=token,
        headers={"X-Request-ID": request_id},
    )
    assert result.codes == ["FORBIDDEN"]

    (event,) = await _trail(world)
    assert (event.action, event.outcome) == ("productCreate", Outcome.DENIED)
    assert event.actor == (f"user:{user}" if user else "anonymous")
    assert event.roles == ([role] if role else [])
    assert (event.target_type, event.target_id, event.before, event.after) == (None,) * 4
    assert (event.request_id, event.client_ip) == (request_id, "127.0.0.1")
    async with world.services.db.reader() as session:
        assert (
            await session.scalar(select(func.count()).where(ProductRow.shop_id == world.shop.id))
            == 0
        )


def _context(world: World, subject: str) -> Any:
    scope = {"type": "http", "headers": [], "client": ("10.0.0.9", 4000), "app": world.app}
    context = AgoraContext(
        services=world.services,
        request=Request(scope),
        response=None,
        request_id=unique("req"),
        principal=Principal(subject=subject, token_id="t"),
        shop=world.shop,
    )
    return SimpleNamespace(context=context, field_name="productCreate")


async def test_a_change_whose_record_cannot_be_written_is_not_committed(world: World) -> None:
    """The record is part of the change: if it fails, the change fails with it."""
    user, _ = await world.user("business")
    title = unique("Ghost")

    async def work(session: Any) -> Any:
        return await create_product(session, world.shop, ProductDraft(title=title))

    def broken_target(_result: object) -> int:
        raise RuntimeError("the audit declaration is broken")

    with pytest.raises(RuntimeError, match="audit declaration"):
        await write(
            _context(world, f"user:{user}"),
            work,
            Audit("Product", row_state(ProductRow), target=broken_target),
        )
    async with world.services.db.reader() as session:
        assert await session.scalar(select(func.count()).where(ProductRow.title == title)) == 0
    assert await _trail(world) == []


async def _seed_trail(world: World, count: int) -> str:
    """``count`` events in the world's shop domain, one second apart; returns the domain."""
    domain = shop_domain(world.shop.id)
    start = datetime(2026, 5, 1, tzinfo=UTC)
    async with world.services.db.writer() as session, session.begin():
        for index in range(count):
            await record(
                session,
                AuditRecord(
                    occurred_at=start + timedelta(seconds=index),
                    actor=f"user:{index % 2}",
                    domain=domain,
                    action="productUpdate" if index % 3 else "productCreate",
                    outcome=Outcome.ALLOWED if index % 2 else Outcome.DENIED,
                    target_type="Product",
                    target_id=f"P{index}",
                ),
            )
    return domain


@pytest.mark.parametrize("role", ["ops", "community_admin"])
async def test_platform_reviewers_read_and_filter_the_trail(
    world: World, gql: GraphQLClient, role: str
) -> None:
    domain = await _seed_trail(world, 6)
    _, token = await world.user(role, domain="platform")

    async def targets(**spec: object) -> list[str]:
        data = (await gql(EVENTS, {"filter": {"domain": domain, **spec}}, token=token)).ok()
        return [edge["node"]["targetId"] for edge in data["auditEvents"]["edges"]]

    assert await targets() == ["P5", "P4", "P3", "P2", "P1", "P0"]
    assert await targets(outcome="DENIED") == ["P4", "P2", "P0"]
    assert await targets(actor="user:1", action="productUpdate") == ["P5", "P1"]
    assert await targets(targetType="Product", targetId="P3") == ["P3"]
    window = {"occurredFrom": "2026-05-01T00:00:02Z", "occurredTo": "2026-05-01T00:00:04+00:00"}
    assert await targets(**window) == ["P3", "P2"]
    assert await targets(domain="shop:0") == []


@pytest.mark.parametrize("role", [None, "shopper", "business", "finance"])
async def test_everyone_else_is_refused_the_trail_and_the_attempt_is_recorded(
    world: World, gql: GraphQLClient, role: str | None
) -> None:
    domain = await _seed_trail(world, 1)
    in_platform = role == "finance"
    user, token = (
        await world.user(role, domain="platform" if in_platform else None) if role else (0, None)
    )
    request_id = unique("req")
    result = await gql(
        EVENTS, {"filter": {"domain": domain}}, token=token, headers={"X-Request-ID": request_id}
    )
    assert result.codes == ["FORBIDDEN"]
    assert result.data is None

    async with world.services.db.reader() as session:
        (denial,) = await session.scalars(
            select(AuditEvent).where(AuditEvent.request_id == request_id)
        )
    assert (denial.action, denial.outcome, denial.domain) == (
        "auditEvents",
        Outcome.DENIED,
        "platform",
    )
    assert denial.actor == (f"user:{user}" if role else "anonymous")
    assert denial.roles == (["finance"] if in_platform else [])


async def test_the_trail_pages_newest_first_both_ways(world: World, gql: GraphQLClient) -> None:
    domain = await _seed_trail(world, 5)
    _, token = await world.user("ops", domain="platform")
    where = {"domain": domain}

    async def page(**arguments: object) -> dict[str, Any]:
        data = (await gql(EVENTS, {"filter": where, **arguments}, token=token)).ok()
        return data["auditEvents"]

    def ids(connection: dict[str, Any]) -> list[str]:
        return [edge["node"]["targetId"] for edge in connection["edges"]]

    first = await page(first=2)
    assert ids(first) == ["P4", "P3"] and first["pageInfo"]["hasNextPage"] is True
    second = await page(first=2, after=first["pageInfo"]["endCursor"])
    assert ids(second) == ["P2", "P1"]
    third = await page(first=2, after=second["pageInfo"]["endCursor"])
    assert ids(third) == ["P0"] and third["pageInfo"]["hasNextPage"] is False
    back = await page(last=2, before=third["pageInfo"]["startCursor"])
    assert ids(back) == ["P2", "P1"] and back["pageInfo"]["hasPreviousPage"] is True
    forged = await gql(EVENTS, {"filter": where, "after": "bm9wZQ"}, token=token)
    assert forged.codes == ["INVALID_CURSOR"]
    naive = await gql(EVENTS, {"filter": {"occurredFrom": "2026-05-01T00:00:00"}}, token=token)
    assert naive.codes == ["BAD_USER_INPUT"]


async def test_reading_the_trail_costs_the_same_statements_for_any_page_size(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    domain = await _seed_trail(world, 40)
    _, token = await world.user("community_admin", domain="platform")
    counts = {}
    for first in (5, 20, 40):
        statements.reset()
        data = (await gql(EVENTS, {"filter": {"domain": domain}, "first": first}, token=token)).ok()
        assert len(data["auditEvents"]["edges"]) == first
        counts[first] = statements.count
    assert counts[5] == counts[20] == counts[40], counts
