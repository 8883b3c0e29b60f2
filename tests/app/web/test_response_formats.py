"""/graphql answers in JSON, in GraphQL-over-HTTP's graphql-response+json, or in XML, as the
client's Accept asks; anything else is 406."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import orjson
import pytest

from app.identity.models import Shop
from tests.support.factories import World, unique
from tests.support.sql import StatementCounter
from tests.support.xmlresponse import from_xml, parse_strict

pytestmark = pytest.mark.anyio

GQL_RESPONSE = "application/graphql-response+json"
TITLE = 'Tom & Jerry\'s <"Best"> mug ☕ ]]> \r\n\t end'
# Lists (nodes, variants, images, errors, path), booleans (available), nulls (category, the
# refused product), numbers (locations, path index), strings with markup in them, and an error
# with extensions.
MIXED = """
query Mixed {
  shop { name __typename }
  products(first: 5) { nodes { title available category { name } images { url }
                               variants { sku } } pageInfo { hasNextPage } }
  refused: product { title }
}
"""


async def post(
    http: httpx.AsyncClient, query: str, accept: str | None, shop: str | None = None
) -> httpx.Response:
    headers = {"content-type": "application/json"}
    if accept is not None:
        headers["accept"] = accept
    if shop is not None:
        headers["x-agora-shop"] = shop
    return await http.post("/graphql", content=orjson.dumps({"query": query}), headers=headers)


def xml_body(response: httpx.Response) -> Any:
    return from_xml(parse_strict(response.content))


def assert_same_response(first: dict[str, Any], second: dict[str, Any]) -> None:
    """Equal but for the cost bucket's level, which moves between two requests."""
    assert first.keys() == second.keys()
    assert first["data"] == second["data"]
    assert first.get("errors") == second.get("errors")
    cost, other = first["extensions"]["cost"], second["extensions"]["cost"]
    assert cost["requestedQueryCost"] == other["requestedQueryCost"]
    assert cost["throttleStatus"].keys() == other["throttleStatus"].keys()


async def test_json_is_the_default(http: httpx.AsyncClient, world: World) -> None:
    for accept in (None, "*/*", "application/*", "application/json"):
        response = await post(http, "{ shop { name } }", accept, world.handle)
        assert response.status_code == 200, accept
        assert response.headers["content-type"] == "application/json"
        assert response.json()["data"] == {"shop": {"name": "Test Shop"}}
        assert "accept" in response.headers["vary"].lower()


async def test_xml_is_the_json_response_mapped_member_for_member(
    http: httpx.AsyncClient, world: World
) -> None:
    await world.product(TITLE, prices=("10.00", "12.00"))
    as_json = await post(http, MIXED, "application/json", world.handle)
    as_xml = await post(http, MIXED, "application/xml", world.handle)

    assert as_xml.status_code == as_json.status_code == 200
    assert as_xml.headers["content-type"] == "application/xml; charset=utf-8"
    assert_same_response(xml_body(as_xml), as_json.json())

    root = parse_strict(as_xml.content)
    [product] = root.find("data/products/nodes")  # type: ignore[misc]
    assert product.findtext("title") == TITLE
    assert product.find("available").attrib == {"type": "boolean"}  # type: ignore[union-attr]
    assert product.find("category").attrib == {"nil": "true"}  # type: ignore[union-attr]
    assert product.find("images").attrib == {"type": "list"}  # type: ignore[union-attr]
    assert len(product.find("variants")) == 2  # type: ignore[arg-type]
    assert root.find("data/refused").attrib == {"nil": "true"}  # type: ignore[union-attr]
    error = root.find("errors/item")
    assert error is not None
    assert error.findtext("extensions/code") == "BAD_USER_INPUT"
    assert [item.text for item in error.find("path")] == ["refused"]  # type: ignore[union-attr]
    assert error.find("locations/item/line").get("type") == "number"  # type: ignore[union-attr]


async def test_xml_carries_request_errors_too(http: httpx.AsyncClient, world: World) -> None:
    response = await post(http, "{ products(first: ", "application/xml", world.handle)
    assert response.status_code == 200
    body = xml_body(response)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_PARSE_FAILED"]


async def test_graphql_response_json_sets_the_status_by_the_outcome(
    http: httpx.AsyncClient, world: World
) -> None:
    ok = await post(http, "{ shop { name } }", GQL_RESPONSE, world.handle)
    assert ok.status_code == 200
    assert ok.headers["content-type"] == GQL_RESPONSE
    assert ok.json()["data"] == {"shop": {"name": "Test Shop"}}

    # An error while executing still answers with data: a partial result is 200.
    partial = await post(
        http, "{ shop { name } refused: product { title } }", GQL_RESPONSE, world.handle
    )
    assert partial.status_code == 200
    assert partial.json()["data"] == {"shop": {"name": "Test Shop"}, "refused": None}
    assert partial.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"

    deep = "{ categories " + "{ children " * 11 + "{ name }" + " }" * 11 + " }"
    for query, code in [
        ("{ products(first: ", "GRAPHQL_PARSE_FAILED"),
        ("{ noSuchField }", "GRAPHQL_VALIDATION_FAILED"),
        (deep, "MAX_DEPTH_EXCEEDED"),
    ]:
        refused = await post(http, query, GQL_RESPONSE, world.handle)
        assert refused.status_code == 400, query
        assert refused.headers["content-type"] == GQL_RESPONSE
        body = refused.json()
        assert "data" not in body  # the request never executed
        assert [e["extensions"]["code"] for e in body["errors"]] == [code]


async def test_application_json_answers_200_whatever_the_outcome(
    http: httpx.AsyncClient, world: World
) -> None:
    for query in ("{ shop { name } }", "{ products(first: ", "{ noSuchField }"):
        response = await post(http, query, "application/json", world.handle)
        assert response.status_code == 200, query
        assert "data" in response.json()


@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        ("application/xml;q=0.5, application/json", "application/json"),
        ("application/xml, application/json;q=0.9", "application/xml; charset=utf-8"),
        ("application/json, application/xml", "application/json"),
        (f"{GQL_RESPONSE}, application/json;q=0.9", GQL_RESPONSE),
        ("text/html, application/xml;q=0.9, */*;q=0.8", "application/xml; charset=utf-8"),
    ],
)
async def test_quality_and_order_pick_the_format(
    http: httpx.AsyncClient, world: World, accept: str, content_type: str
) -> None:
    response = await post(http, "{ shop { name } }", accept, world.handle)
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


@pytest.mark.parametrize(
    "accept", ["text/csv", "text/html", "text/xml", "application/xml;q=0", "image/*"]
)
async def test_an_unacceptable_accept_is_406_and_nothing_runs(
    http: httpx.AsyncClient, world: World, statements: StatementCounter, accept: str
) -> None:
    statements.reset()
    response = await http.post(
        "/graphql",
        json={"query": 'mutation { tokenCreate(email: "a@b.c", password: "x") { accessToken } }'},
        headers={"accept": accept, "x-agora-shop": world.handle},
    )
    assert response.status_code == 406
    assert response.headers["content-type"] == "application/json"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "NOT_ACCEPTABLE"}
    assert "application/xml" in error["message"]
    assert statements.count == 0  # refused before the shop was even looked up


@pytest.mark.parametrize(
    ("accept", "read"),
    [
        ("application/json", lambda r: r.json()),
        (GQL_RESPONSE, lambda r: r.json()),
        ("application/xml", xml_body),
    ],
)
async def test_a_malformed_request_is_a_400_with_a_code_in_the_clients_format(
    http: httpx.AsyncClient, accept: str, read: Any
) -> None:
    response = await http.post(
        "/graphql",
        content=b'{"query": ',
        headers={"content-type": "application/json", "accept": accept},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(accept)
    [error] = read(response)["errors"]
    assert error["extensions"] == {"code": "BAD_REQUEST"}
    assert "JSON" in error["message"]


async def test_batching_is_off(http: httpx.AsyncClient, world: World) -> None:
    batch = [{"query": "{ shop { name } }"}, {"query": "{ shop { handle } }"}]
    response = await http.post("/graphql", json=batch, headers={"x-agora-shop": world.handle})
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_REQUEST"
    assert "Batching" in error["message"]


async def test_graphiql_still_opens_in_a_browser(http: httpx.AsyncClient) -> None:
    page = await http.get(
        "/graphql", headers={"accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "FirstProducts" in page.text


async def test_the_readme_example_is_what_agora_sends(http: httpx.AsyncClient, app: Any) -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    section = readme[readme.index("## Response formats") :]
    example = section[
        section.index("```xml\n") + 7 : section.index("\n```", section.index("```xml"))
    ]
    documented = ET.fromstring(example.encode())  # noqa: S314 - our own README
    for element in documented.iter():  # drop the indentation
        element.tail = None
        if len(element):
            element.text = None
    async with app.state.services.db.writer() as session, session.begin():
        shop = Shop(handle=unique("fish"), name="Fish & Chips", currency="GBP")
        session.add(shop)
    response = await post(
        http, "{ shop { name } product { title } }", "application/xml", shop.handle
    )
    sent = xml_body(response)
    assert "cost" in sent.pop("extensions")  # left out of the README's example
    assert from_xml(documented) == sent
