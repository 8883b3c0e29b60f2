"""Webhooks through the API: subscribing (developers or the app itself, topics within scopes),
the deliveries a developer sees with each attempt, and ops redelivering a dead letter."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from app.errors import DomainError
from app.events.models import DeliveryStatus, WebhookDelivery
from app.events.outbox import record_event
from app.events.topics import Topic
from app.security.outbound import OutboundPolicy
from marketplace.app_models import AppVersion
from marketplace.errors import MarketplaceErrorCode
from marketplace.webhooks import SubscriptionRequest, create_subscription
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.receiver import Receiver
from tests.support.sql import StatementCounter
from tests.support.webhook_apps import install_app, subscribe_app

pytestmark = pytest.mark.anyio

SUBSCRIBE = "mutation($a: ID!, $t: [WebhookTopic!]!, $v: Int) { webhookSubscriptionCreate(appId: $a, topics: $t, payloadVersion: $v) { subscription { id topics payloadVersion createdBy } errors { field code } } }"
DELIVERIES = "query($a: ID!, $n: Int) { app(appId: $a) { webhookSubscriptions { topics } webhookDeliveries(first: $n) { nodes { id eventId topic status attemptCount url attempts { statusCode latencyMs error } } } } }"
REDELIVER = "mutation($d: ID!) { webhookRedeliver(deliveryId: $d) { delivery { status attemptCount } errors { code } } }"


async def _record(world: World, topic: Topic = Topic.ORDERS_CREATED) -> str:
    async with world.services.db.writer() as session, session.begin():
        event = record_event(
            session,
            topic,
            world.shop.id,
            {"order_id": 7, "total": {"amount": 1250, "currency": "EUR"}},
            occurred_at=world.services.clock(),
        )
    return event.id


async def test_a_developer_subscribes_within_the_apps_scopes(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    installed = await install_app(
        world, http, gql, webhook_url=None, scopes=("trade:read", "webhooks")
    )
    made = (
        await gql(
            SUBSCRIBE,
            {"a": installed.gid, "t": ["ORDERS_CREATED", "ORDERS_PAID"], "v": 1},
            token=installed.partner_token,
        )
    ).ok()["webhookSubscriptionCreate"]
    assert made["errors"] == []
    assert made["subscription"]["topics"] == ["ORDERS_CREATED", "ORDERS_PAID"]
    assert made["subscription"]["payloadVersion"] == 1

    refused = (
        await gql(
            SUBSCRIBE,
            {"a": installed.gid, "t": ["SHIPMENTS_CREATED", "ORDERS_CREATED"], "v": 9},
            token=installed.partner_token,
        )
    ).ok()["webhookSubscriptionCreate"]
    assert refused["subscription"] is None
    assert {(tuple(e["field"]), e["code"]) for e in refused["errors"]} == {
        (("payloadVersion",), "INVALID"),
        (("topics", "0"), "SCOPE_NOT_ALLOWED"),  # logistics:read was not asked for
        (("topics", "1"), "DUPLICATE"),  # already subscribed above
    }


async def test_the_app_subscribes_with_its_install_token_within_granted_scopes(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    installed = await install_app(world, http, gql, webhook_url=None)
    made = (
        await gql(
            SUBSCRIBE, {"a": installed.gid, "t": ["APPS_UNINSTALLED"]}, token=installed.access_token
        )
    ).ok()["webhookSubscriptionCreate"]
    assert made["errors"] == []
    assert made["subscription"]["createdBy"] == f"app:{installed.app.client_id}"

    # Another app's token may not touch it.
    other = await install_app(world, http, gql, webhook_url=None)
    denied = await gql(
        SUBSCRIBE, {"a": installed.gid, "t": ["ORDERS_PAID"]}, token=other.access_token
    )
    assert denied.codes == ["FORBIDDEN"]


async def test_deliveries_show_every_attempt_to_the_developer(
    world: World,
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    receiver: Receiver,
    statements: StatementCounter,
) -> None:
    installed = await install_app(world, http, gql, webhook_url=receiver.endpoint("/hooks"))
    await subscribe_app(world, installed, Topic.ORDERS_CREATED.value)
    receiver.script = ["fail"]
    event_id = await _record(world)
    dispatcher = world.services.events.dispatcher
    assert (await dispatcher.run_once()).failed == 1
    seen = (
        await gql(DELIVERIES, {"a": installed.gid, "n": 10}, token=installed.partner_token)
    ).ok()
    [delivery] = seen["app"]["webhookDeliveries"]["nodes"]
    assert delivery["eventId"] == event_id
    assert delivery["topic"] == "ORDERS_CREATED"
    assert delivery["status"] == "PENDING"
    assert delivery["url"] == receiver.endpoint("/hooks")
    assert [a["statusCode"] for a in delivery["attempts"]] == [500]
    assert delivery["attempts"][0]["latencyMs"] >= 0
    assert seen["app"]["webhookSubscriptions"] == [{"topics": ["ORDERS_CREATED"]}]

    # The page costs the same statements for one delivery as for several.
    statements.reset()
    await gql(DELIVERIES, {"a": installed.gid, "n": 1}, token=installed.partner_token)
    one = statements.count
    for _ in range(4):
        await _record(world)
    await dispatcher.run_once()
    statements.reset()
    page = (
        await gql(DELIVERIES, {"a": installed.gid, "n": 10}, token=installed.partner_token)
    ).ok()
    assert len(page["app"]["webhookDeliveries"]["nodes"]) == 5
    assert statements.count == one


async def test_ops_redelivers_a_dead_letter(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient, receiver: Receiver
) -> None:
    installed = await install_app(world, http, gql, webhook_url=receiver.endpoint("/hooks"))
    await subscribe_app(world, installed, Topic.ORDERS_CREATED.value)
    event_id = await _record(world)
    dispatcher = world.services.events.dispatcher
    await dispatcher.route()
    async with world.services.db.writer() as session, session.begin():
        delivery = await session.scalar(
            select(WebhookDelivery).where(WebhookDelivery.app_id == installed.app.id)
        )
        assert delivery is not None
        delivery.status = DeliveryStatus.DEAD
        delivery.give_up_at = delivery.created_at - timedelta(seconds=1)
    _, ops = await world.user("ops", domain="platform")
    dead = (
        await gql(
            "{ webhookDeliveries(status: DEAD, first: 100) { nodes { id eventId } } }", token=ops
        )
    ).ok()
    found = [n["id"] for n in dead["webhookDeliveries"]["nodes"] if n["eventId"] == event_id]
    assert found == [gid("WebhookDelivery", delivery.id)]

    again = (await gql(REDELIVER, {"d": found[0]}, token=ops)).ok()["webhookRedeliver"]
    assert again == {"delivery": {"status": "PENDING", "attemptCount": 0}, "errors": []}
    assert (await dispatcher.run_once()).delivered == 1
    assert receiver.processed == {event_id: 1}
    twice = (await gql(REDELIVER, {"d": found[0]}, token=ops)).ok()["webhookRedeliver"]
    assert twice == {"delivery": None, "errors": [{"code": "DELIVERY_NOT_DEAD"}]}


async def test_in_prod_a_subscription_to_an_inside_address_is_refused(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    installed = await install_app(world, http, gql, webhook_url="https://hooks.partner.example/in")

    async def inside(host: str, port: int) -> list[str]:
        return {"hooks.partner.example": ["10.1.2.3"]}.get(host, ["93.184.216.34"])

    prod = OutboundPolicy(allow_loopback=False, resolver=inside)
    for address in ("10.1.2.3", "127.0.0.1", "169.254.169.254"):

        async def resolves_to(host: str, port: int, address: str = address) -> list[str]:
            return [address]

        with pytest.raises(DomainError) as refused:
            async with world.services.db.writer() as session, session.begin():
                await create_subscription(
                    session,
                    SubscriptionRequest(installed.app.id, ["orders/created"], 2, "t"),
                    list(installed.scopes),
                    OutboundPolicy(allow_loopback=False, resolver=resolves_to),
                )
        assert [p.code for p in refused.value.problems] == [MarketplaceErrorCode.URL_REFUSED]
    # A public address passes.
    async with world.services.db.writer() as session, session.begin():
        await session.execute(
            update(AppVersion)
            .where(AppVersion.app_id == installed.app.id)
            .values(
                manifest={"app_url": "https://app.example", "webhook_url": "https://ok.example/in"}
            )
        )
        made = await create_subscription(
            session,
            SubscriptionRequest(installed.app.id, ["orders/created"], 2, "t"),
            list(installed.scopes),
            prod,
        )
    assert made.id > 0
