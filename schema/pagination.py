"""Relay connections over keyset pages, with signed opaque cursors.

A cursor is the sort key's name and the last row's position, HMAC-signed with a server
secret. A forged, garbled or foreign-sort cursor is refused with INVALID_CURSOR before any SQL.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from datetime import datetime
from typing import Any, Generic, TypeVar

import orjson
import strawberry

from app.pagination import KeysetOrder, Page, PageRequest
from schema.errors import ApiErrorCode, api_error

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "Connection",
    "CursorCodec",
    "Edge",
    "PageInfo",
    "connection",
    "page_request",
]

DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_TOTAL_COUNT = 10_000
_TAG_BYTES = 12

NodeT = TypeVar("NodeT")


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


@strawberry.type
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    nodes: list[NodeT]
    page_info: PageInfo
    total_count_resolver: strawberry.Private[Callable[[], Any] | None] = None

    @strawberry.field(
        description=f"How many items match, counted up to {MAX_TOTAL_COUNT:,}; "
        "opt-in because counting costs a query of its own."
    )
    async def total_count(self) -> int | None:
        if self.total_count_resolver is None:
            return None
        return await self.total_count_resolver()


class CursorCodec:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"agora-cursor:" + secret).digest()

    def _tag(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:_TAG_BYTES]

    def encode(self, order: KeysetOrder, position: tuple[Any, Any]) -> str:
        value, tiebreak = position
        if isinstance(value, datetime):
            value = value.isoformat()
        payload = orjson.dumps([order.name, value, tiebreak])
        return base64.urlsafe_b64encode(self._tag(payload) + payload).decode().rstrip("=")

    def decode(self, cursor: str, order: KeysetOrder) -> tuple[Any, Any]:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            tag, payload = raw[:_TAG_BYTES], raw[_TAG_BYTES:]
            if len(tag) != _TAG_BYTES or not hmac.compare_digest(tag, self._tag(payload)):
                raise ValueError("bad signature")
            name, value, tiebreak = orjson.loads(payload)
            if name != order.name or not isinstance(tiebreak, int):
                raise ValueError("cursor of another sort order")
            return order.decode_value(value), tiebreak
        except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError) as exc:
            raise api_error(ApiErrorCode.INVALID_CURSOR, "The cursor is not valid here.") from exc


def page_request(
    codec: CursorCodec,
    order: KeysetOrder,
    *,
    first: int | None,
    after: str | None,
    last: int | None,
    before: str | None,
) -> PageRequest:
    """Validate Relay arguments; every refusal happens before any SQL runs."""
    if first is not None and last is not None:
        raise api_error(ApiErrorCode.BAD_USER_INPUT, "Pass first or last, not both.")
    for name, size in (("first", first), ("last", last)):
        if size is not None and size < 0:
            raise api_error(ApiErrorCode.BAD_USER_INPUT, f"{name} cannot be negative.")
        if size is not None and size > MAX_PAGE_SIZE:
            raise api_error(
                ApiErrorCode.PAGE_SIZE_EXCEEDED,
                f"{name} is {size}; a page holds at most {MAX_PAGE_SIZE} items.",
                maximum=MAX_PAGE_SIZE,
            )
    if last is None and first is None:
        if before is not None:
            last = DEFAULT_PAGE_SIZE
        else:
            first = DEFAULT_PAGE_SIZE
    return PageRequest(
        first=first,
        after=codec.decode(after, order) if after is not None else None,
        last=last,
        before=codec.decode(before, order) if before is not None else None,
    )


def connection(
    codec: CursorCodec,
    order: KeysetOrder,
    page: Page[Any],
    to_node: Callable[[Any], NodeT],
    total_count: Callable[[], Any] | None = None,
) -> Connection[NodeT]:
    nodes = [to_node(row) for row in page.rows]
    cursors = [codec.encode(order, position) for position in page.positions]
    return Connection(
        edges=[Edge(cursor=c, node=n) for c, n in zip(cursors, nodes, strict=True)],
        nodes=nodes,
        page_info=PageInfo(
            has_next_page=page.has_next_page,
            has_previous_page=page.has_previous_page,
            start_cursor=cursors[0] if cursors else None,
            end_cursor=cursors[-1] if cursors else None,
        ),
        total_count_resolver=total_count,
    )
