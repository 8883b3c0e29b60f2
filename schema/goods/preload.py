"""Bulk-loading a page's relations up front, chosen by what the query selects.

The listing resolver asks which relations the query selects on each node (through ``edges {
node }`` or ``nodes``, fragments included), loads each for the whole page at once through the
request's loaders (one statement per relation, all at the same time), and hands every product
its share. Relations the query does not select are never loaded.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import Any

from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from app.goods.models import Product as ProductRow

__all__ = ["PRELOADABLE", "preload_relations", "selected_on_nodes"]

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


async def preload_relations(info: Info, rows: Sequence[ProductRow]) -> list[dict[str, Any]]:
    """One dict of preloaded relations per row, for the relations the query selects."""
    wanted = selected_on_nodes(info) & PRELOADABLE
    if not wanted or not rows:
        return [{} for _ in rows]
    loaders = info.context.loaders
    pks = [row.id for row in rows]
    category_pks = sorted({row.category_id for row in rows if row.category_id is not None})
    jobs = {
        "category": lambda: loaders.category.load_many(category_pks),
        "images": lambda: loaders.images.load_many(pks),
        "variants": lambda: loaders.variants.load_many(pks),
        "available": lambda: loaders.available.load_many(pks),
    }
    names = sorted(wanted)
    loaded = dict(zip(names, await asyncio.gather(*(jobs[n]() for n in names)), strict=True))
    categories = dict(zip(category_pks, loaded.get("category", []), strict=False))
    per_row = []
    for index, row in enumerate(rows):
        preloaded: dict[str, Any] = {}
        if "category" in loaded:
            preloaded["category"] = categories.get(row.category_id)  # type: ignore[arg-type]
        for name in ("images", "variants", "available"):
            if name in loaded:
                preloaded[name] = loaded[name][index]
        per_row.append(preloaded)
    return per_row
