"""Which of Agora's response formats a client's ``Accept`` header asks for.

``/graphql`` answers in three media types and nothing else, so a client that accepts none of
them gets 406 rather than a body it cannot read. The rules are HTTP's (RFC 9110, section
12.5.1): each format takes the quality of the most specific range that matches it
(``application/json`` over ``application/*`` over ``*/*``); the highest non-zero quality wins;
between equals, the range the client listed first wins, then Agora's own order below. No
``Accept`` at all means JSON.
"""

from __future__ import annotations

import enum
from functools import lru_cache

__all__ = ["ResponseFormat", "negotiate"]


class ResponseFormat(enum.StrEnum):
    """The formats, in Agora's order of preference; each value is its media type."""

    JSON = "application/json"
    GRAPHQL_RESPONSE = "application/graphql-response+json"
    XML = "application/xml"


# What most clients send: answered without parsing.
_PLAIN_JSON = frozenset({"*/*", "application/json"})


def negotiate(accept: str | None) -> ResponseFormat | None:
    """The format to answer in, or None when the client accepts none of them."""
    if not accept or accept in _PLAIN_JSON:
        return ResponseFormat.JSON
    return _negotiate(accept)


@lru_cache(maxsize=256)
def _negotiate(accept: str) -> ResponseFormat | None:
    """Cached: clients send a handful of distinct headers, over and over."""
    ranges = _ranges(accept)
    best: tuple[float, int, int] | None = None  # (-quality, position, preference)
    chosen = None
    for preference, response_format in enumerate(ResponseFormat):
        kind, subtype = response_format.value.split("/")
        match = _most_specific(ranges, kind, subtype)
        if match is None or match[1] <= 0:
            continue
        position, quality = match
        rank = (-quality, position, preference)
        if best is None or rank < best:
            best, chosen = rank, response_format
    return chosen


def _ranges(accept: str) -> list[tuple[str, str, float]]:
    """The header's media ranges as (type, subtype, quality), in the client's order."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (piece.strip() for piece in part.split(";"))
        media_range = "*/*" if media_range == "*" else media_range.lower()
        kind, slash, subtype = media_range.partition("/")
        if not slash or not kind or not subtype:
            continue
        quality = _quality(parameters)
        if quality is not None:
            ranges.append((kind, subtype, quality))
    return ranges


def _quality(parameters: list[str]) -> float | None:
    """The range's ``q`` (1 when absent), or None when it is not a number from 0 to 1, so
    that a garbled range is ignored rather than guessed at."""
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:
                return None
            return quality if 0.0 <= quality <= 1.0 else None
    return 1.0


def _most_specific(
    ranges: list[tuple[str, str, float]], kind: str, subtype: str
) -> tuple[int, float] | None:
    """(position, quality) of the most specific range matching ``kind/subtype``, if any."""
    found: tuple[int, int, float] | None = None  # (specificity, position, quality)
    for position, (range_kind, range_subtype, quality) in enumerate(ranges):
        if range_kind == kind and range_subtype == subtype:
            specificity = 2
        elif range_kind == kind and range_subtype == "*":
            specificity = 1
        elif range_kind == "*" and range_subtype == "*":
            specificity = 0
        else:
            continue
        if found is None or specificity > found[0]:
            found = (specificity, position, quality)
    return None if found is None else (found[1], found[2])
