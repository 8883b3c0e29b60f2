"""The XML mapping of a GraphQL response: well-formed, strict, documented, and lossless."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schema.xml import to_xml
from tests.support.xmlresponse import from_xml, parse_strict

RESPONSE = {
    "data": {
        "shop": {"name": 'Tom & Jerry\'s <"Best"> ☕ shop', "__typename": "Shop"},
        "cheap": {"nodes": [{"title": "a", "available": True}, {"title": "b", "available": False}]},
        "product": None,
        "images": [],
    },
    "errors": [
        {
            "message": "Not found: <id> & more",
            "locations": [{"line": 1, "column": 3}],
            "path": ["product", 0, "title"],
            "extensions": {"code": "NOT_FOUND"},
        }
    ],
    "extensions": {
        "cost": {
            "requestedQueryCost": 12,
            "actualQueryCost": 7,
            "throttleStatus": {"maximumAvailable": 1000.0, "restoreRate": 50.5},
        }
    },
}


def test_a_response_maps_element_for_member() -> None:
    body = to_xml(RESPONSE)
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<response><data><shop>')
    root = parse_strict(body)
    assert root.tag == "response"
    assert [child.tag for child in root] == ["data", "errors", "extensions"]
    shop = root.find("data/shop")
    assert shop is not None
    assert shop.findtext("name") == 'Tom & Jerry\'s <"Best"> ☕ shop'
    assert shop.findtext("__typename") == "Shop"
    nodes = root.find("data/cheap/nodes")
    assert nodes is not None and nodes.get("type") == "list"
    assert [item.findtext("title") for item in nodes] == ["a", "b"]
    assert [item.find("available").attrib for item in nodes] == [{"type": "boolean"}] * 2  # type: ignore[union-attr]
    assert [item.findtext("available") for item in nodes] == ["true", "false"]
    product = root.find("data/product")
    assert product is not None and product.attrib == {"nil": "true"} and product.text is None
    images = root.find("data/images")
    assert images is not None and images.attrib == {"type": "list"} and not len(images)
    error = root.find("errors/item")
    assert error is not None
    assert error.findtext("message") == "Not found: <id> & more"
    assert [item.text for item in error.find("path")] == ["product", "0", "title"]  # type: ignore[union-attr]
    assert error.findtext("extensions/code") == "NOT_FOUND"
    assert root.findtext("extensions/cost/requestedQueryCost") == "12"
    assert root.find("extensions/cost/throttleStatus/restoreRate").get("type") == "number"  # type: ignore[union-attr]
    assert from_xml(root) == RESPONSE


def test_special_characters_are_escaped_not_dropped() -> None:
    body = to_xml({"data": {"s": "a<b>&c\"d'e ]]> \t\n\r\n end"}})
    assert b"a&lt;b&gt;&amp;c" in body
    assert b"]]&gt;" in body
    assert b"&#13;" in body  # a raw CR would come back as LF
    assert from_xml(parse_strict(body)) == {"data": {"s": "a<b>&c\"d'e ]]> \t\n\r\n end"}}


def test_characters_xml_cannot_carry_are_written_as_json() -> None:
    value = "bell\x07 nul\x00 \ufffe lone \ud800"
    body = to_xml({"data": {"s": value}})
    element = parse_strict(body).find("data/s")
    assert element is not None and element.get("encoding") == "json"
    assert json.loads(element.text or "") == value


@pytest.mark.parametrize(
    ("key", "tag", "name"),
    [
        ("title", "title", None),
        ("__typename", "__typename", None),
        ("a.b-c_1", "a.b-c_1", None),
        ("1st", "field", "1st"),
        ("with space", "field", "with space"),
        ("a:b", "field", "a:b"),
        ("xmlThing", "field", "xmlThing"),
        ("", "field", ""),
        ('q"<&>\t\n', "field", 'q"<&>\t\n'),
        ("field", "field", None),
        ("item", "item", None),
    ],
)
def test_keys_that_are_not_plain_xml_names_become_named_fields(
    key: str, tag: str, name: str | None
) -> None:
    root = parse_strict(to_xml({key: 1}))
    [child] = list(root)
    assert (child.tag, child.get("name")) == (tag, name)
    assert from_xml(root) == {key: 1}


def test_a_key_xml_cannot_carry_is_named_in_json() -> None:
    root = parse_strict(to_xml({"a\x01b": "x"}))
    [child] = list(root)
    assert child.get("name-encoding") == "json"
    assert from_xml(root) == {"a\x01b": "x"}


def test_numbers_keep_their_json_text() -> None:
    root = parse_strict(to_xml({"i": 10**20, "f": 1.5, "e": 1e-7, "z": -0.0, "one": 1.0}))
    assert [child.text for child in root] == [
        "100000000000000000000",
        "1.5",
        "1e-07",
        "-0.0",
        "1.0",
    ]
    assert from_xml(root) == {"i": 10**20, "f": 1.5, "e": 1e-7, "z": -0.0, "one": 1.0}


def test_what_json_cannot_hold_is_refused() -> None:
    with pytest.raises(ValueError, match="no JSON form"):
        to_xml({"f": math.inf})
    with pytest.raises(TypeError, match="set is not a JSON value"):
        to_xml({"s": {1, 2}})


# Every code point, lone surrogates and control characters included: JSON can hold them all.
any_text = st.text(st.characters(exclude_categories=()))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=8) | any_text, children, max_size=4)
    ),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8) | any_text, json_values, max_size=4))
def test_every_json_response_round_trips(response: dict[str, Any]) -> None:
    assert from_xml(parse_strict(to_xml(response))) == response
