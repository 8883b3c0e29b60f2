"""Keyset pagination over any ordered SELECT.

A page is cut by comparing the sort key and the primary key with the position of the cursor,
never by OFFSET: pages stay fast deep into a list, and rows inserted between two fetches never
shift an item onto a second page or off every page.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["KeysetOrder", "Page", "PageRequest", "fetch_page"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class KeysetOrder:
    """A total order: the sort expression, then the primary key, both in one direction."""

    name: str
    expression: ColumnElement[Any]
    tiebreak: ColumnElement[Any]
    descending: bool
    decode_value: Callable[[Any], Any]

    def flipped(self) -> KeysetOrder:
        return KeysetOrder(
            self.name, self.expression, self.tiebreak, not self.descending, self.decode_value
        )


@dataclass(frozen=True, slots=True)
class PageRequest:
    """At most one of (first, after) and (last, before) directions; positions already decoded."""

    first: int | None = None
    after: tuple[Any, Any] | None = None
    last: int | None = None
    before: tuple[Any, Any] | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    rows: Sequence[T]
    positions: Sequence[tuple[Any, Any]]
    has_next_page: bool
    has_previous_page: bool


def _beyond(order: KeysetOrder, position: tuple[Any, Any]) -> ColumnElement[bool]:
    """Rows strictly after ``position`` in ``order``.

    Spelled out rather than as a row-value comparison so that each bound value takes the type
    of the column it meets (timestamps on SQLite need that).
    """
    value, tiebreak = position
    if order.descending:
        return or_(
            order.expression < value,
            and_(order.expression == value, order.tiebreak < tiebreak),
        )
    return or_(order.expression > value, and_(order.expression == value, order.tiebreak > tiebreak))


def _ordered(order: KeysetOrder) -> list[ColumnElement[Any]]:
    if order.descending:
        return [order.expression.desc(), order.tiebreak.desc()]
    return [order.expression.asc(), order.tiebreak.asc()]


async def fetch_page(
    session: AsyncSession, query: Select[Any], order: KeysetOrder, request: PageRequest
) -> Page[Any]:
    """One statement: the page plus one extra row that tells whether more follow.

    ``query`` selects the entity; the sort value is added as a labelled column so that cursors
    can be built from exactly what the database compared.
    """
    backwards = request.last is not None
    size = request.last if backwards else request.first
    assert size is not None
    walk = order.flipped() if backwards else order
    query = query.add_columns(order.expression.label("_sort_value"))
    if request.after is not None:
        query = query.where(_beyond(order, request.after))
    if request.before is not None:
        query = query.where(_beyond(order.flipped(), request.before))
    query = query.order_by(*_ordered(walk)).limit(size + 1)
    result = (await session.execute(query)).all()
    more = len(result) > size
    result = result[:size]
    if backwards:
        result.reverse()
    rows = [row[0] for row in result]
    positions = [(row[-1], _tiebreak_value(row[0], order)) for row in result]
    return Page(
        rows=rows,
        positions=positions,
        has_next_page=more if not backwards else request.before is not None,
        has_previous_page=more if backwards else request.after is not None,
    )


def _tiebreak_value(entity: Any, order: KeysetOrder) -> Any:
    return getattr(entity, order.tiebreak.key)  # type: ignore[attr-defined]
