"""The rules a zone and a rate must satisfy, as problems with the input path at fault.

Checks return problems rather than raising, so a service reports every problem of a request
at once. Paths use the API's field names (``("input", "maxValue")``), as goods' checks do.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.errors import Problem
from app.goods.variants import PriceInput
from app.logistics.errors import LogisticsErrorCode
from app.logistics.models import RateBasis
from app.money import MoneyError, parse_amount

__all__ = [
    "API_NAMES",
    "MAX_AREAS",
    "MAX_BOUND",
    "MAX_DELIVERY_DAYS",
    "MAX_NAME_LENGTH",
    "RateValues",
    "check_areas",
    "check_code",
    "check_name",
    "check_rate",
    "input_problem",
    "parse_price",
]

MAX_NAME_LENGTH = 120
MAX_AREAS = 300
MAX_DELIVERY_DAYS = 365
# Bounds fit a 32-bit integer, as the API's Int does: 2,147 tonnes, or 21 million in a currency
# with two decimals. No bracket needs more.
MAX_BOUND = 2**31 - 1
_AREA = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")
_CODE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
# A rate's attributes as the API names them.
API_NAMES = {
    "code": "code",
    "name": "name",
    "basis": "basis",
    "amount": "price",
    "min_value": "minValue",
    "max_value": "maxValue",
    "free_over": "freeOver",
    "min_delivery_days": "minDeliveryDays",
    "max_delivery_days": "maxDeliveryDays",
    "active": "active",
}


@dataclass(slots=True)
class RateValues:
    """A rate's values once its money is parsed: what is checked, then written."""

    code: str
    name: str
    basis: RateBasis
    amount: int
    min_value: int
    max_value: int | None
    free_over: int | None
    min_delivery_days: int | None
    max_delivery_days: int | None
    active: bool


def input_problem(code: LogisticsErrorCode, message: str, *field: str) -> Problem:
    return Problem(code, message, ("input", *field))


def check_code(code: str) -> bool:
    return _CODE.match(code) is not None


def check_name(name: str) -> list[Problem]:
    if not name.strip():
        return [input_problem(LogisticsErrorCode.REQUIRED, "Give a name.", "name")]
    if len(name.strip()) > MAX_NAME_LENGTH:
        message = f"Use at most {MAX_NAME_LENGTH} characters."
        return [input_problem(LogisticsErrorCode.INVALID, message, "name")]
    return []


def check_areas(areas: Sequence[str]) -> list[Problem]:
    """Codes are taken as given, capitals only, so what ops typed is what a quote matches."""
    if not areas:
        return [input_problem(LogisticsErrorCode.REQUIRED, "List at least one area.", "areas")]
    if len(areas) > MAX_AREAS:
        message = f"A zone lists at most {MAX_AREAS} areas."
        return [input_problem(LogisticsErrorCode.INVALID, message, "areas")]
    message = "Use a country (DE) or a country and region (US-CA), in capitals."
    return [
        input_problem(LogisticsErrorCode.INVALID, message, "areas", str(i))
        for i, area in enumerate(areas)
        if not _AREA.match(area)
    ]


def parse_price(value: PriceInput, currency: str, problems: list[Problem], field: str) -> int:
    """Minor units of ``value``; on a problem (appended) the result is a placeholder 0."""
    if value.currency != currency:
        message = f"Shipping in this shop is priced in {currency}."
        code = LogisticsErrorCode.CURRENCY_MISMATCH
        problems.append(input_problem(code, message, field, "currencyCode"))
        return 0
    try:
        minor = parse_amount(value.amount, currency)
    except MoneyError as exc:
        problems.append(input_problem(LogisticsErrorCode.INVALID, str(exc), field, "amount"))
        return 0
    if minor < 0:
        message = "An amount cannot be negative."
        problems.append(input_problem(LogisticsErrorCode.INVALID, message, field, "amount"))
    return minor


def check_rate(rate: RateValues, given: set[str]) -> list[Problem]:
    """Field and cross-field rules. A broken pair is reported on the field this request gave
    (``given`` holds attribute names), so an update points at what the caller just changed."""
    problems = []
    if not check_code(rate.code):
        message = "A code is 1-64 lower-case letters, digits, - or _, not starting with - or _."
        problems.append(input_problem(LogisticsErrorCode.INVALID, message, "code"))
    problems += check_name(rate.name)
    for bound in ("min_value", "max_value"):
        value = getattr(rate, bound)
        if value is not None and not 0 <= value <= MAX_BOUND:
            message = f"A bound is between 0 and {MAX_BOUND}."
            problems.append(input_problem(LogisticsErrorCode.INVALID, message, API_NAMES[bound]))
    if rate.max_value is not None and rate.max_value <= rate.min_value:
        at = "maxValue" if "max_value" in given else "minValue"
        message = "maxValue is exclusive, so it must be above minValue."
        problems.append(input_problem(LogisticsErrorCode.INVALID, message, at))
    for days in ("min_delivery_days", "max_delivery_days"):
        value = getattr(rate, days)
        if value is not None and not 0 <= value <= MAX_DELIVERY_DAYS:
            message = f"Give 0 to {MAX_DELIVERY_DAYS} days."
            problems.append(input_problem(LogisticsErrorCode.INVALID, message, API_NAMES[days]))
    low, high = rate.min_delivery_days, rate.max_delivery_days
    if low is not None and high is not None and low > high:
        at = "maxDeliveryDays" if "max_delivery_days" in given else "minDeliveryDays"
        message = "minDeliveryDays cannot exceed maxDeliveryDays."
        problems.append(input_problem(LogisticsErrorCode.INVALID, message, at))
    return problems
