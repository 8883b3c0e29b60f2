"""Shops review the apps they use: once each, only with the app installed, and the listing's
rating follows every review and edit."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from app.security.audit import AuditEvent
from marketplace.app_models import InstallationStatus
from marketplace.listing_models import Listing
from tests.support.factories import World, gid, make_world
from tests.support.graphql import GraphQLClient
from tests.support.listings import Made, install, published_listing

pytestmark = pytest.mark.anyio

REVIEW_FIELDS = "review { id rating text shopName } errors { code field }"
CREATE = f"mutation($id: ID!, $r: Int!, $t: String!) {{ listingReviewCreate(listingId: $id, rating: $r, text: $t) {{ {REVIEW_FIELDS} }} }}"
UPDATE = f"mutation($id: ID!, $r: Int!, $t: String!) {{ listingReviewUpdate(listingId: $id, rating: $r, text: $t) {{ {REVIEW_FIELDS} }} }}"
SHOWN = "query($slug: String!) { listing(slug: $slug) { rating ratingCount reviews(first: 5) { rating text shopName } } }"


@pytest.fixture
async def listing(world: World) -> Made:
    return await published_listing(world)


async def _review(
    gql: GraphQLClient, world: World, token: str, made: Made, rating: int, text: str = "Great"
) -> dict[str, Any]:
    variables = {"id": gid("Listing", made.listing_id), "r": rating, "t": text}
    return (await gql(CREATE, variables, shop=world.handle, token=token)).ok()[
        "listingReviewCreate"
    ]


async def test_a_shop_without_the_app_installed_cannot_review_it(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    _, merchant = await world.user("business")
    result = await _review(gql, world, merchant, listing, 5)
    assert result["review"] is None
    assert [(e["code"], e["field"]) for e in result["errors"]] == [("NOT_INSTALLED", ["listingId"])]
    shown = (await gql(SHOWN, {"slug": listing.slug})).ok()["listing"]
    assert (shown["ratingCount"], shown["reviews"]) == (0, [])


async def test_an_installing_shop_reviews_once_and_edits_its_review(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    # Given a shop that has the app installed
    await install(world, listing.app_id)
    _, merchant = await world.user("business")
    # When it rates the app 5, the listing's Bayesian rating moves from 3.5 towards 5
    created = await _review(gql, world, merchant, listing, 5, "Saves us hours")
    assert created["errors"] == []
    assert created["review"] | {"id": None} == {
        "id": None,
        "rating": 5,
        "text": "Saves us hours",
        "shopName": world.shop.name,
    }
    shown = (await gql(SHOWN, {"slug": listing.slug})).ok()["listing"]
    assert shown["rating"] == pytest.approx((5 * 3.5 + 5) / 6)
    assert shown["ratingCount"] == 1
    assert shown["reviews"] == [
        {"rating": 5, "text": "Saves us hours", "shopName": world.shop.name}
    ]
    # A second review from the same shop is refused
    again = await _review(gql, world, merchant, listing, 1, "Changed my mind")
    assert [e["code"] for e in again["errors"]] == ["DUPLICATE"]
    # But the shop may edit its review, and the sum follows without a second count
    variables = {"id": gid("Listing", listing.listing_id), "r": 2, "t": "Slower lately"}
    edited = (await gql(UPDATE, variables, shop=world.handle, token=merchant)).ok()
    assert edited["listingReviewUpdate"]["review"]["rating"] == 2
    async with world.services.db.reader() as session:
        row = await session.get(Listing, listing.listing_id)
    assert row is not None and (row.rating_sum, row.rating_count) == (2, 1)
    # Each change is audited in the shop's domain
    async with world.services.db.reader() as session:
        trail = (
            await session.execute(
                select(AuditEvent.action, AuditEvent.domain)
                .where(AuditEvent.target_id == created["review"]["id"])
                .order_by(AuditEvent.id)
            )
        ).all()
    shop = f"shop:{world.shop.id}"
    assert [tuple(r) for r in trail] == [
        ("listingReviewCreate", shop),
        ("listingReviewUpdate", shop),
    ]


async def test_reviews_from_several_shops_add_up(
    app: Starlette, world: World, gql: GraphQLClient, listing: Made
) -> None:
    ratings = [5, 4, 1]
    for rating in ratings:
        shop = await make_world(app)
        await install(shop, listing.app_id)
        _, merchant = await shop.user("business")
        assert (await _review(gql, shop, merchant, listing, rating))["errors"] == []
    shown = (await gql(SHOWN, {"slug": listing.slug})).ok()["listing"]
    assert shown["ratingCount"] == 3
    assert shown["rating"] == pytest.approx((5 * 3.5 + sum(ratings)) / 8)
    assert [r["rating"] for r in shown["reviews"]] == [1, 4, 5]  # newest first


async def test_a_rating_outside_one_to_five_is_refused(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    await install(world, listing.app_id)
    _, merchant = await world.user("business")
    for rating in (0, 6):
        result = await _review(gql, world, merchant, listing, rating)
        assert [(e["code"], e["field"]) for e in result["errors"]] == [("INVALID", ["rating"])]


async def test_a_pending_or_removed_installation_is_not_enough(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    await install(world, listing.app_id, status=InstallationStatus.PENDING)
    await install(world, listing.app_id, status=InstallationStatus.UNINSTALLED)
    _, merchant = await world.user("business")
    result = await _review(gql, world, merchant, listing, 4)
    assert [e["code"] for e in result["errors"]] == ["NOT_INSTALLED"]


async def test_shoppers_and_anonymous_callers_may_not_review(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    await install(world, listing.app_id)
    _, shopper = await world.user("shopper")
    variables = {"id": gid("Listing", listing.listing_id), "r": 5, "t": "x"}
    for token in (None, shopper):
        for mutation in (CREATE, UPDATE):
            result = await gql(mutation, variables, shop=world.handle, token=token)
            assert result.codes == ["FORBIDDEN"], result.body


async def test_editing_a_review_that_does_not_exist_is_not_found(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    _, merchant = await world.user("business")
    variables = {"id": gid("Listing", listing.listing_id), "r": 3, "t": "x"}
    result = (await gql(UPDATE, variables, shop=world.handle, token=merchant)).ok()
    assert [e["code"] for e in result["listingReviewUpdate"]["errors"]] == ["NOT_FOUND"]
