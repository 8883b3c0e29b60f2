"""Bulk-loading a page's relations up front, chosen by what the query selects.

The listing resolver asks which relations the query selects on each node (through ``edges {
node }`` or ``nodes``, fragments included), loads each for the whole page at once (one
statement per relation), and hands every product its share. Relations the query does not
select are never loaded.

Measured under load (``bench.graphql_load``), three choices pay:

- The relations are read on the session that read the page, one after the other, not on a
  session each at the same time: each session costs a pool checkout (a ping on PostgreSQL), a
  BEGIN and a ROLLBACK, and on SQLite a driver thread competing for the GIL; at a fixed
  concurrency throughput is what counts, and a few sub-millisecond statements in a row cost
  less than the round trips around parallel ones.
- They come straight from the bulk queries as Core rows, not through the DataLoaders: a
  load_many of 50 keys costs 50 futures and an event-loop turn per relation, and ORM instances
  cost identity-map and state bookkeeping per row, pure overhead for data that is only shown.
- What was read is primed into the request's loaders, so a later loader call for the same keys
  (a fragment elsewhere in the document) still finds it without a statement, as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from app.goods import queries
from app.goods.models import Product as ProductRow

__all__ = ["PRELOADABLE", "preload_relations", "selected_on_nodes", "selected_on_object"]

PRELOADABLE = frozenset({"category", "images", "variants", "available"})


def _fields(selections: Iterable[Any]) -> Iterable[SelectedField]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _fields(selection.selections)


def selected_on_nodes(info: Info) -> set[str]:
    """Names selected on the connection's nodes, by ``edges { node }`` or by ``nodes``."""
    names: set[str] = set()
    for connection in _fields(info.selected_fields):
        for wrapper in _fields(connection.selections):
            if wrapper.name == "nodes":
                names.update(f.name for f in _fields(wrapper.selections))
            elif wrapper.name == "edges":
                for node in _fields(wrapper.selections):
                    if node.name == "node":
                        names.update(f.name for f in _fields(node.selections))
    return names


def selected_on_object(info: Info) -> set[str]:
    """Names selected on the field's own object (``product(handle:) { ... }``)."""
    return {f.name for field in _fields(info.selected_fields) for f in _fields(field.selections)}


async def preload_relations(
    info: Info,
    rows: Sequence[ProductRow],
    session: AsyncSession,
    selected: set[str] | None = None,
) -> list[dict[str, Any]]:
    """One dict of preloaded relations per row, for the relations the query selects (on a
    connection's nodes unless ``selected`` names them), read on ``session``, the one that read
    the rows."""
    wanted = (selected_on_nodes(info) if selected is None else selected) & PRELOADABLE
    if not wanted or not rows:
        return [{} for _ in rows]
    context = info.context
    pks = [row.id for row in rows]
    category_pks = sorted({row.category_id for row in rows if row.category_id is not None})
    shop_id = context.require_shop().id
    jobs: dict[str, Callable[[AsyncSession], Awaitable[dict[Any, Any]]]] = {
        "category": lambda s: queries.category_rows_by_id(s, shop_id, category_pks),
        "images": lambda s: queries.image_rows_by_product(s, pks),
        "variants": lambda s: queries.stocked_variant_rows_by_product(s, pks),
        "available": lambda s: queries.availability_by_product(s, pks),
    }
    found = {name: await jobs[name](session) for name in sorted(wanted)}
    _prime(context.loaders, found, pks, category_pks)
    per_row = []
    for row in rows:
        preloaded: dict[str, Any] = {}
        if "category" in found:
            preloaded["category"] = found["category"].get(row.category_id)
        if "images" in found:
            preloaded["images"] = found["images"].get(row.id, [])
        if "variants" in found:
            preloaded["variants"] = found["variants"].get(row.id, [])
        if "available" in found:
            preloaded["available"] = found["available"].get(row.id, False)
        per_row.append(preloaded)
    return per_row


def _prime(
    loaders: Any, found: dict[str, dict[Any, Any]], pks: list[int], category_pks: list[int]
) -> None:
    """Hand the loaders what was read, with the same defaults they give a missing key."""
    if "category" in found:
        loaders.category.prime_many({pk: found["category"].get(pk) for pk in category_pks})
    for name in ("images", "variants"):
        if name in found:
            getattr(loaders, name).prime_many({pk: found[name].get(pk, []) for pk in pks})
    if "available" in found:
        loaders.available.prime_many({pk: found["available"].get(pk, False) for pk in pks})
