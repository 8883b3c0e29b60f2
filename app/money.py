"""Money as integer minor units plus an ISO 4217 currency. Never a float.

The exponent table follows ISO 4217 as Stripe applies it: most currencies have two decimals,
a known set has none and a few have three.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

__all__ = ["CURRENCIES", "MAX_MINOR_UNITS", "Money", "MoneyError", "exponent", "parse_amount"]

_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])
_TWO_DECIMAL = frozenset(
    [
        "AED",
        "ARS",
        "AUD",
        "BGN",
        "BRL",
        "CAD",
        "CHF",
        "CNY",
        "COP",
        "CZK",
        "DKK",
        "EGP",
        "EUR",
        "GBP",
        "HKD",
        "HUF",
        "IDR",
        "ILS",
        "INR",
        "MAD",
        "MXN",
        "MYR",
        "NGN",
        "NOK",
        "NZD",
        "PEN",
        "PHP",
        "PKR",
        "PLN",
        "RON",
        "RSD",
        "SAR",
        "SEK",
        "SGD",
        "THB",
        "TRY",
        "TWD",
        "UAH",
        "USD",
        "ZAR",
    ]
)
CURRENCIES = _ZERO_DECIMAL | _THREE_DECIMAL | _TWO_DECIMAL


# Fits a signed 64-bit column with room for sums of many amounts.
MAX_MINOR_UNITS = 10**15


class MoneyError(ValueError):
    """An amount or currency that cannot be represented exactly."""


def exponent(currency: str) -> int:
    if currency not in CURRENCIES:
        raise MoneyError(f"unsupported currency {currency!r}")
    if currency in _ZERO_DECIMAL:
        return 0
    if currency in _THREE_DECIMAL:
        return 3
    return 2


def parse_amount(text: str, currency: str) -> int:
    """Turn a decimal string into minor units, refusing anything that would need rounding."""
    try:
        value = Decimal(text)
    except (InvalidOperation, TypeError) as exc:
        raise MoneyError(f"{text!r} is not a decimal amount") from exc
    if not value.is_finite():
        raise MoneyError(f"{text!r} is not a finite amount")
    minor = value.scaleb(exponent(currency))
    if minor != minor.to_integral_value():
        raise MoneyError(f"{currency} allows at most {exponent(currency)} decimals")
    if abs(minor) > MAX_MINOR_UNITS:
        raise MoneyError(f"{text} is larger than Agora handles")
    return int(minor)


@dataclass(frozen=True, slots=True)
class Money:
    amount: int
    currency: str

    def to_decimal_string(self) -> str:
        places = exponent(self.currency)
        if places == 0:
            return str(self.amount)
        return str(Decimal(self.amount).scaleb(-places).quantize(Decimal(1).scaleb(-places)))
