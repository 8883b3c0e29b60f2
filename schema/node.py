"""Relay global IDs and the ``Node`` interface.

An ID is base64url of ``Type:pk``: opaque to clients, cheap to decode, and typed, so that
``node(id:)`` can route it and a Product ID passed where a Category is expected is refused.
"""

from __future__ import annotations

import base64
import binascii

import strawberry

from schema.errors import ApiErrorCode, api_error

__all__ = ["Node", "decode_id", "encode_id", "parse_id"]


def encode_id(type_name: str, pk: int) -> strawberry.ID:
    return strawberry.ID(
        base64.urlsafe_b64encode(f"{type_name}:{pk}".encode()).decode().rstrip("=")
    )


def parse_id(global_id: str) -> tuple[str, int] | None:
    """``(type, pk)``, or None for anything that is not one of our IDs."""
    try:
        padded = global_id + "=" * (-len(global_id) % 4)
        type_name, _, pk = base64.urlsafe_b64decode(padded.encode()).decode().partition(":")
        number = int(pk)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not type_name or number <= 0 or number >= 2**63:
        return None
    return type_name, number


def decode_id(global_id: str, expected: str, *, argument: str = "id") -> int:
    """The primary key inside an ID of type ``expected``; a malformed or mistyped ID is refused."""
    parsed = parse_id(global_id)
    if parsed is None or parsed[0] != expected:
        raise api_error(
            ApiErrorCode.BAD_USER_INPUT,
            f"{argument} is not a valid {expected} ID.",
            argument=argument,
        )
    return parsed[1]


@strawberry.interface(description="An object with a global ID, refetchable through node(id:).")
class Node:
    id: strawberry.ID
