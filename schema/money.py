"""Money on the wire: a decimal string and a currency, never a float."""

from __future__ import annotations

import strawberry

from app.money import Money as MoneyValue

__all__ = ["Money", "MoneyInput"]


@strawberry.type(description="An amount in a currency. `amount` is a decimal string: '12.50'.")
class Money:
    amount: str
    currency_code: str

    @classmethod
    def of(cls, minor_units: int, currency: str) -> Money:
        return cls(
            amount=MoneyValue(minor_units, currency).to_decimal_string(), currency_code=currency
        )


@strawberry.input(description="An amount as a decimal string ('12.50') in an ISO 4217 currency.")
class MoneyInput:
    amount: str
    currency_code: str
