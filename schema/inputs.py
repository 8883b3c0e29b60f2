"""Input checks shared by every domain's filters."""

from __future__ import annotations

from datetime import datetime

from schema.errors import ApiErrorCode, api_error

__all__ = ["aware_filter_time"]


def aware_filter_time(moment: datetime | None, name: str) -> datetime | None:
    """A filter bound must say its offset: a naive time would mean a different instant to
    the client and to the database."""
    if moment is not None and moment.utcoffset() is None:
        raise api_error(
            ApiErrorCode.BAD_USER_INPUT,
            f"filter.{name} needs a UTC offset, e.g. 2026-01-31T00:00:00Z.",
            argument=name,
        )
    return moment
