"""The split of a charge (acceptance 1): partner plus fee is the gross exactly, and the partner's
part is less than one minor unit from the exact share, by the documented largest-remainder
rule with ties to the partner."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from marketplace.ledger import BPS, split_charge

SETTINGS = settings(max_examples=2_000, deadline=None, database=None, derandomize=True)
GROSS = st.integers(min_value=1, max_value=10**15)
SHARE = st.integers(min_value=0, max_value=BPS)


@SETTINGS
@given(GROSS, SHARE)
def test_partner_and_fee_add_up_and_the_partner_is_within_a_unit(gross: int, share: int) -> None:
    partner, fee = split_charge(gross, share)

    assert partner + fee == gross
    assert abs(partner - Fraction(gross * share, BPS)) < 1
    assert 0 <= partner <= gross and 0 <= fee <= gross


@SETTINGS
@given(GROSS, SHARE)
def test_the_left_over_unit_goes_to_the_larger_remainder(gross: int, share: int) -> None:
    partner, fee = split_charge(gross, share)
    exact_partner = Fraction(gross * share, BPS)
    exact_fee = Fraction(gross * (BPS - share), BPS)
    partner_rest = exact_partner - (exact_partner.numerator // exact_partner.denominator)
    fee_rest = exact_fee - (exact_fee.numerator // exact_fee.denominator)

    if partner_rest == fee_rest == 0:
        assert (partner, fee) == (exact_partner, exact_fee)
    elif partner_rest >= fee_rest:
        assert partner == exact_partner + 1 - partner_rest
    else:
        assert fee == exact_fee + 1 - fee_rest


@pytest.mark.parametrize(
    ("gross", "share", "expected"),
    [
        (999, 7000, (699, 300)),  # 699.3 / 299.7: the fee's remainder is larger
        (999, 8000, (799, 200)),  # 799.2 / 199.8
        (10_000, 8500, (8500, 1500)),
        (1, 5000, (1, 0)),  # 0.5 / 0.5: a tie goes to the partner
        (3, 0, (0, 3)),
        (3, BPS, (3, 0)),
    ],
)
def test_pinned_splits(gross: int, share: int, expected: tuple[int, int]) -> None:
    assert split_charge(gross, share) == expected


def test_a_share_outside_0_to_10000_is_refused() -> None:
    for share in (-1, BPS + 1):
        with pytest.raises(ValueError, match="basis points"):
            split_charge(100, share)
