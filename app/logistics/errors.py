"""Logistics error codes: what ops can fix in a zone or rate they submitted."""

from __future__ import annotations

import enum

__all__ = ["LogisticsErrorCode"]


class LogisticsErrorCode(enum.StrEnum):
    INVALID = "INVALID"
    REQUIRED = "REQUIRED"
    NOT_FOUND = "NOT_FOUND"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    DUPLICATE_CODE = "DUPLICATE_CODE"
    CURRENCY_MISMATCH = "CURRENCY_MISMATCH"
    TOO_MANY_ZONES = "TOO_MANY_ZONES"
    TOO_MANY_RATES = "TOO_MANY_RATES"
