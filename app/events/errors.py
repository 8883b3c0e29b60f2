"""Event and webhook error codes an operator can act on."""

from __future__ import annotations

import enum

__all__ = ["EventErrorCode"]


class EventErrorCode(enum.StrEnum):
    NOT_FOUND = "NOT_FOUND"
    DELIVERY_NOT_DEAD = "DELIVERY_NOT_DEAD"
