"""Money parsing: exact minor units or a refusal, never a rounded float."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.money import MAX_MINOR_UNITS, Money, MoneyError, exponent, parse_amount


@pytest.mark.parametrize(
    ("text", "currency", "minor"),
    [
        ("12.50", "EUR", 1250),
        ("0.01", "USD", 1),
        ("1200", "JPY", 1200),
        ("1.234", "KWD", 1234),
        ("-3", "EUR", -300),
    ],
)
def test_parses_exact_amounts(text: str, currency: str, minor: int) -> None:
    assert parse_amount(text, currency) == minor


@pytest.mark.parametrize(
    ("text", "currency"),
    [
        ("1.001", "EUR"),
        ("0.5", "JPY"),
        ("NaN", "EUR"),
        ("Infinity", "EUR"),
        ("1e16", "EUR"),
        ("12,50", "EUR"),
        ("1", "XXX"),
    ],
)
def test_refuses_what_it_cannot_represent_exactly(text: str, currency: str) -> None:
    with pytest.raises(MoneyError):
        parse_amount(text, currency)


@given(
    minor=st.integers(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS),
    currency=st.sampled_from(["EUR", "JPY", "KWD", "USD"]),
)
def test_decimal_strings_round_trip(minor: int, currency: str) -> None:
    text = Money(minor, currency).to_decimal_string()
    assert parse_amount(text, currency) == minor
    assert Decimal(text).as_tuple().exponent == -exponent(currency)
