"""An app's permissions in a shop are its granted scopes, through the same Casbin enforcer as
users: an install token acts in its own shop only, and only as far as its scopes go."""

from __future__ import annotations

import httpx
import pytest
from starlette.applications import Starlette

from tests.support.factories import World, unique
from tests.support.graphql import GraphQLClient
from tests.support.oauth import install, make_client, token

pytestmark = pytest.mark.anyio

PRODUCT_CREATE = """
mutation Create($input: ProductCreateInput!) {
  productCreate(input: $input) { product { title } errors { code } }
}
"""


def _product() -> dict[str, object]:
    return {
        "title": "App-made",
        "status": "ACTIVE",
        "variants": [{"sku": unique("APP"), "price": {"amount": "5.00", "currencyCode": "EUR"}}],
    }


async def test_goods_write_install_token_creates_products_in_its_own_shop_only(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, world: World, other_world: World
) -> None:
    _, tokens = await install(app, http, world, "goods:write")
    access = tokens["access_token"]
    created = await gql(PRODUCT_CREATE, {"input": _product()}, shop=world.handle, token=access)
    assert created.ok()["productCreate"]["product"]["title"] == "App-made"

    elsewhere = await gql(
        PRODUCT_CREATE, {"input": _product()}, shop=other_world.handle, token=access
    )
    assert elsewhere.codes == ["FORBIDDEN"]


async def test_an_install_token_without_goods_write_is_forbidden(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, world: World
) -> None:
    _, tokens = await install(app, http, world, "goods:read")
    refused = await gql(
        PRODUCT_CREATE, {"input": _product()}, shop=world.handle, token=tokens["access_token"]
    )
    assert refused.codes == ["FORBIDDEN"]


async def test_a_client_credentials_token_holds_no_shop_permissions(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, world: World
) -> None:
    creds = await make_client(app, ["goods:write"], grants=("client_credentials",))
    access = (await token(http, creds, grant_type="client_credentials")).json()["access_token"]
    refused = await gql(PRODUCT_CREATE, {"input": _product()}, shop=world.handle, token=access)
    assert refused.codes == ["FORBIDDEN"]
