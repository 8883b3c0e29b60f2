"""The ``shipping.rates`` extension point: a strategic app adds or adjusts shipping methods.

``ExtendedShippingQuoter`` decorates trade's ``ShippingQuoter`` port: it asks the inner
quoter (logistics' rate tables) first, then the shop's ``shipping.rates`` extension, if any,
and merges. Trade asks the quoter before checkout's transaction starts (``price_cart`` in
``app/trade/checkout.py::_validate``), so no database lock is held during the call.

**Request** (POST, signed, ``X-Agora-Extension-Point: shipping.rates``). Amounts are decimal
strings in the request's currency, as the GraphQL API shows money. Only what a rate depends on
is sent: no name, street, email or phone::

    {
      "point": "shipping.rates",
      "shop_id": 12,
      "currency": "EUR",
      "destination": {"country_code": "DE", "region": "BE", "postal_code": "10117"},
      "subtotal": "25.00",
      "weight_grams": 1200,
      "rates": [                               # Agora's own methods for this cart
        {"code": "standard", "name": "Standard", "amount": "4.95", "currency": "EUR",
         "min_delivery_days": 2, "max_delivery_days": 4, "carrier_code": null}
      ]
    }

**Answer** (HTTP 2xx, JSON, at most 64 KiB)::

    {"rates": [
      {"code": "express", "name": "Express", "amount": "9.90", "currency": "EUR",
       "min_delivery_days": 1, "max_delivery_days": 2}
    ]}

The schema is strict; anything else makes the whole answer ignored (the shopper gets the
built-in methods) and recorded as ``malformed`` with the reason:

- ``rates``: at most 20; no other top-level key; no two rates with one code;
- ``code``: 1-64 characters of ``A-Z a-z 0-9 _ . : -``;
- ``name``: 1-200 characters, not blank, no control characters;
- ``amount``: a decimal *string* (``"9.90"``, never a JSON number: no floats for money), not
  negative, with no more decimals than the currency has (``app/money.py``);
- ``currency``: the request's currency;
- ``min_delivery_days`` / ``max_delivery_days``: optional integers 0-365, min <= max.

**Merge.** A rate whose code is one of Agora's methods *adjusts* it: its name and amount
replace the built-in's, and so do its delivery days if it gives either (else the built-in's
stay); the carrier stays. Any other code is *added*. The result is cheapest first, then by
code, as the rate tables order theirs.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.money import Money, MoneyError, parse_amount
from app.trade.shipping import QuoteRequest, ShippingOption, ShippingQuoter
from marketplace.extensions import ExtensionCaller, MalformedAnswer

__all__ = [
    "MAX_RATES",
    "SHIPPING_RATES",
    "ExtendedShippingQuoter",
    "merge_rates",
    "parse_rates",
    "rates_request",
]

log = logging.getLogger("agora.marketplace.extensions")

SHIPPING_RATES = "shipping.rates"
MAX_RATES = 20
_AMOUNT = re.compile(r"^-?[0-9]{1,16}(\.[0-9]{1,6})?$")


class _Rate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    code: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:\-]{1,64}$")]
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    amount: Annotated[str, StringConstraints(max_length=32)]
    currency: Annotated[str, StringConstraints(max_length=3)]
    min_delivery_days: Annotated[int, Field(ge=0, le=365)] | None = None
    max_delivery_days: Annotated[int, Field(ge=0, le=365)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> _Rate:
        if not self.name.strip() or any(ord(c) < 32 or ord(c) == 127 for c in self.name):
            raise ValueError("name is blank or holds control characters")
        low, high = self.min_delivery_days, self.max_delivery_days
        if low is not None and high is not None and low > high:
            raise ValueError("min_delivery_days is above max_delivery_days")
        return self


class _RatesAnswer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    rates: Annotated[list[_Rate], Field(max_length=MAX_RATES)]


def _amount(rate: _Rate, index: int, currency: str) -> int:
    where = f"rates.{index}.amount"
    if not _AMOUNT.match(rate.amount):
        raise MalformedAnswer(f"{where}: {rate.amount!r} is not a decimal amount like 9.90")
    if Decimal(rate.amount) < 0:
        raise MalformedAnswer(f"{where}: {rate.amount} is negative")
    try:
        return parse_amount(rate.amount, currency)
    except MoneyError as exc:
        raise MalformedAnswer(f"{where}: {exc}") from exc


def parse_rates(data: Any, currency: str) -> list[ShippingOption]:
    """The extension's rates as options in ``currency``, or ``MalformedAnswer`` /
    ``ValidationError`` saying what is wrong."""
    answer = _RatesAnswer.model_validate(data)
    options: list[ShippingOption] = []
    seen: set[str] = set()
    for index, rate in enumerate(answer.rates):
        if rate.currency != currency:
            raise MalformedAnswer(
                f"rates.{index}.currency: {rate.currency} is not the request's {currency}"
            )
        if rate.code in seen:
            raise MalformedAnswer(f"rates.{index}.code: {rate.code} appears twice")
        seen.add(rate.code)
        options.append(
            ShippingOption(
                code=rate.code,
                name=rate.name.strip(),
                amount=_amount(rate, index, currency),
                currency=currency,
                min_delivery_days=rate.min_delivery_days,
                max_delivery_days=rate.max_delivery_days,
            )
        )
    return options


def merge_rates(
    built_in: Sequence[ShippingOption], extension: Sequence[ShippingOption]
) -> list[ShippingOption]:
    by_code = {option.code: option for option in built_in}
    for rate in extension:
        base = by_code.get(rate.code)
        days_given = rate.min_delivery_days is not None or rate.max_delivery_days is not None
        by_code[rate.code] = ShippingOption(
            code=rate.code,
            name=rate.name,
            amount=rate.amount,
            currency=rate.currency,
            min_delivery_days=rate.min_delivery_days
            if days_given or base is None
            else base.min_delivery_days,
            max_delivery_days=rate.max_delivery_days
            if days_given or base is None
            else base.max_delivery_days,
            carrier_code=base.carrier_code if base else None,
            carrier_name=base.carrier_name if base else None,
        )
    return sorted(by_code.values(), key=lambda option: (option.amount, option.code))


def _decimal(amount: int, currency: str) -> str:
    return Money(amount, currency).to_decimal_string()


def rates_request(request: QuoteRequest, built_in: Sequence[ShippingOption]) -> dict[str, Any]:
    return {
        "point": SHIPPING_RATES,
        "shop_id": request.shop_id,
        "currency": request.currency,
        "destination": {
            "country_code": request.country_code,
            "region": request.region,
            "postal_code": request.postal_code,
        },
        "subtotal": _decimal(request.subtotal, request.currency),
        "weight_grams": request.weight_grams,
        "rates": [
            {
                "code": option.code,
                "name": option.name,
                "amount": _decimal(option.amount, option.currency),
                "currency": option.currency,
                "min_delivery_days": option.min_delivery_days,
                "max_delivery_days": option.max_delivery_days,
                "carrier_code": option.carrier_code,
            }
            for option in built_in
        ],
    }


class ExtendedShippingQuoter:
    """``ShippingQuoter``: the inner quoter's methods, adjusted and added to by the shop's
    ``shipping.rates`` extension when it answers in time and in shape."""

    def __init__(self, inner: ShippingQuoter, caller: ExtensionCaller) -> None:
        self.inner = inner
        self.caller = caller

    async def quote(self, request: QuoteRequest) -> list[ShippingOption]:
        built_in = await self.inner.quote(request)
        try:
            payload = rates_request(request, built_in)
        except MoneyError:  # a currency Agora cannot write as a decimal: nothing to ask
            log.exception("shipping.rates request could not be built")
            return built_in
        answer = await self.caller.call(
            request.shop_id,
            SHIPPING_RATES,
            payload,
            lambda data: parse_rates(data, request.currency),
        )
        if answer is None:
            return built_in
        return merge_rates(built_in, answer.value)
