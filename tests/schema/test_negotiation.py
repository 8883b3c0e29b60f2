"""Choosing the response format from an Accept header, by HTTP's rules."""

from __future__ import annotations

import pytest

from schema.negotiation import ResponseFormat, negotiate

JSON, GQL, XML = ResponseFormat.JSON, ResponseFormat.GRAPHQL_RESPONSE, ResponseFormat.XML


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (None, JSON),
        ("", JSON),
        ("*/*", JSON),
        ("*", JSON),
        ("application/*", JSON),
        ("application/json", JSON),
        ("application/json; charset=utf-8", JSON),
        ("application/graphql-response+json", GQL),
        ("application/graphql-response+json, application/json;q=0.9", GQL),
        ("application/xml", XML),
        ("APPLICATION/XML", XML),
        # Quality first: a lower q loses whatever its position.
        ("application/xml;q=0.5, application/json", JSON),
        ("application/json;q=0.5, application/xml", XML),
        ("application/xml;q=0.9, application/json;q=0.8", XML),
        # Equal quality: the client's order.
        ("application/xml, application/json", XML),
        ("application/json, application/xml", JSON),
        ("application/xml, */*", XML),
        # The most specific range sets a format's quality: q=0 refuses it despite */*.
        ("application/json;q=0, */*", GQL),
        ("application/json;q=0, application/graphql-response+json;q=0, */*;q=0.1", XML),
        ("*/*;q=0.1, application/xml;q=0.2", XML),
        # A browser's navigation header.
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", XML),
        # A garbled range is ignored, not guessed at.
        ("application/xml;q=high, application/json", JSON),
        ("application/xml;q=2, application/json;q=0.1", JSON),
    ],
)
def test_the_client_gets_the_format_it_prefers(
    accept: str | None, expected: ResponseFormat
) -> None:
    assert negotiate(accept) is expected


@pytest.mark.parametrize(
    "accept",
    [
        "text/csv",
        "text/html",
        "text/xml",
        "application/yaml, text/*",
        "application/xml;q=0",
        "application/*;q=0",
        "*/*;q=0",
        "application/xml;q=nan",
        "nonsense",
        ",,;",
    ],
)
def test_a_client_that_accepts_none_of_the_formats_gets_none(accept: str) -> None:
    assert negotiate(accept) is None
