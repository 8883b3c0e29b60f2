"""Depth, alias and token limits are built once, so strawberry's ValidationCache hits for a
repeated document, and the limits still hold on every request, the cached ones included."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import strawberry.schema.schema as strawberry_schema

from tests.support.factories import World
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio


class Validations:
    """Counts graphql-core validation runs; each one still validates for real."""

    def __init__(self, validate: Any) -> None:
        self.validate = validate
        self.count = 0

    def __call__(self, schema: Any, document: Any, rules: Any) -> Any:
        self.count += 1
        return self.validate(schema, document, rules)


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> Validations:
    # strawberry's validate_document, which ValidationCache memoises, calls this name.
    counter = Validations(strawberry_schema.validate)
    monkeypatch.setattr(strawberry_schema, "validate", counter)
    return counter


def fresh(operation: str) -> str:
    """A name no earlier test has sent, so the cache starts cold for this document."""
    return f"{operation}{uuid.uuid4().hex}"


async def test_a_repeated_document_is_validated_once(
    world: World, gql: GraphQLClient, validations: Validations
) -> None:
    query = f"query {fresh('Shop')} {{ shop {{ name }} }}"
    first = await gql(query, shop=world.handle)
    second = await gql(query, shop=world.handle)
    assert first.ok() == second.ok() == {"shop": {"name": "Test Shop"}}
    assert validations.count == 1

    other = f"query {fresh('Shop')} {{ shop {{ handle }} }}"
    assert (await gql(other, shop=world.handle)).ok() == {"shop": {"handle": world.handle}}
    assert validations.count == 2


async def test_variables_do_not_defeat_the_cache(
    world: World, gql: GraphQLClient, validations: Validations
) -> None:
    query = f"query {fresh('Product')}($h: String) {{ product(handle: $h) {{ title }} }}"
    for handle in ("a", "b", "c"):
        assert (await gql(query, {"h": handle}, shop=world.handle)).ok() == {"product": None}
    assert validations.count == 1


@pytest.mark.parametrize(
    ("selection", "code"),
    [
        ("categories " + "{ children " * 11 + "{ name }" + " }" * 11, "MAX_DEPTH_EXCEEDED"),
        (" ".join(f"a{i}: __typename" for i in range(31)), "MAX_ALIASES_EXCEEDED"),
    ],
)
async def test_an_over_limit_document_is_refused_every_time_though_validated_once(
    world: World, gql: GraphQLClient, validations: Validations, selection: str, code: str
) -> None:
    query = f"query {fresh('Over')} {{ {selection} }}"
    for _ in range(3):
        result = await gql(query, shop=world.handle)
        assert result.codes == [code]
        assert result.data is None
    assert validations.count == 1  # the refusal itself came from the cache


async def test_the_token_limit_holds_on_every_request_and_before_validation(
    world: World, gql: GraphQLClient, validations: Validations
) -> None:
    query = f"query {fresh('Long')} {{ {' '.join('__typename' for _ in range(2100))} }}"
    for _ in range(2):
        assert (await gql(query, shop=world.handle)).codes == ["MAX_TOKENS_EXCEEDED"]
    assert validations.count == 0


async def test_just_within_the_limits_passes(
    world: World, gql: GraphQLClient, validations: Validations
) -> None:
    aliases = " ".join(f"a{i}: __typename" for i in range(30))
    result = await gql(f"query {fresh('Thirty')} {{ {aliases} }}", shop=world.handle)
    assert len(result.ok()) == 30
    deep = "categories " + "{ children " * 8 + "{ name }" + " }" * 8
    assert (await gql(f"query {fresh('Nine')} {{ {deep} }}", shop=world.handle)).ok() == {
        "categories": []
    }
    assert validations.count == 2


async def test_syntax_errors_are_reported_every_time(world: World, gql: GraphQLClient) -> None:
    broken = f"query {fresh('Broken')} {{ products(first: "
    for _ in range(2):
        assert (await gql(broken, shop=world.handle)).codes == ["GRAPHQL_PARSE_FAILED"]
