"""Trade error codes."""

from __future__ import annotations

import enum

__all__ = ["TradeErrorCode"]


class TradeErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"
    INVALID_QUANTITY = "INVALID_QUANTITY"
    TOO_MANY_LINES = "TOO_MANY_LINES"
