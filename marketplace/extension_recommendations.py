"""The ``goods.recommendations`` extension point: a strategic app recommends products.

This module calls the extension and checks the answer's *shape*. Whether the answer's
products exist, belong to the shop and are on sale is goods' knowledge, which the marketplace
may not import: the GraphQL layer (``schema/goods/recommendations.py``) checks that, and
rejects the answer through ``ExtensionCaller.reject`` when it fails, so it is recorded and
counted exactly like a malformed shape. That layer also owns the built-in fallback.

Products are named by their GraphQL global IDs both ways, the IDs an app sees through the
API; the marketplace passes them through without decoding.

**Request** (POST, signed, ``X-Agora-Extension-Point: goods.recommendations``)::

    {"point": "goods.recommendations", "shop_id": 12, "product_id": "<Product global ID>",
     "first": 10}

**Answer** (HTTP 2xx, JSON)::

    {"products": ["<Product global ID>", ...]}

at most 20 distinct IDs, each a string of 1-200 characters, no other key. Agora shows the
first ``first`` of them, in the app's order, leaving out the product itself; an empty list is
an answer too (nothing is shown). Every one must be
an active product of the same shop; a single other shop's, unknown, draft or archived product
makes the whole answer ignored (the built-in list is shown) and recorded as ``malformed``.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from marketplace.extensions import Answer, ExtensionCaller, MalformedAnswer

__all__ = [
    "MAX_RECOMMENDATIONS",
    "RECOMMENDATIONS",
    "ask_recommendations",
    "parse_recommendations",
]

RECOMMENDATIONS = "goods.recommendations"
MAX_RECOMMENDATIONS = 20


class _RecommendationsAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    products: Annotated[
        list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
        Field(max_length=MAX_RECOMMENDATIONS),
    ]


def parse_recommendations(data: Any) -> list[str]:
    answer = _RecommendationsAnswer.model_validate(data)
    if len(set(answer.products)) != len(answer.products):
        raise MalformedAnswer("products: an ID appears twice")
    return list(answer.products)


async def ask_recommendations(
    caller: ExtensionCaller, shop_id: int, product_id: str, first: int
) -> Answer[list[str]] | None:
    """The extension's product IDs for ``product_id`` (shape-checked), or None: no extension,
    or no usable answer (recorded)."""
    return await caller.call(
        shop_id,
        RECOMMENDATIONS,
        {"point": RECOMMENDATIONS, "shop_id": shop_id, "product_id": product_id, "first": first},
        parse_recommendations,
    )
