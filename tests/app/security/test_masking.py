"""The masks of DESIGN.md, and the field names that count as personal data."""

from __future__ import annotations

import pytest

from app.security.masking import (
    MaskKind,
    mask,
    mask_email,
    mask_phone,
    mask_street,
    personal_kind,
    redact_text,
)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "+861****5678"),
        ("(555) 123-4567", "555****4567"),
        ("12345", "****"),
        ("123 4567 8", "****"),
    ],
)
def test_a_phone_keeps_its_first_3_and_last_4_digits_only_when_long_enough(
    raw: str, masked: str
) -> None:
    assert mask_phone(raw) == masked


def test_the_phone_mask_does_not_reveal_the_length() -> None:
    assert mask_phone("1389999999999995678") == "138****5678"
    assert len(mask_phone("1381234567812345678")) == len(mask_phone("13812345678"))


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("ann@example.com", "a***@example.com"),
        ("Z@sub.example.org", "Z***@sub.example.org"),
        ("not-an-address", "***"),
        ("@example.com", "***"),
    ],
)
def test_an_email_keeps_its_first_letter_and_domain(raw: str, masked: str) -> None:
    assert mask_email(raw) == masked


def test_a_street_line_is_stars_whatever_it_says() -> None:
    assert mask_street("1 Infinite Loop, Apt 5") == "***"
    assert mask(MaskKind.STREET, "Hauptstraße 1") == "***"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("phone", MaskKind.PHONE),
        ("billingPhone", MaskKind.PHONE),
        ("email", MaskKind.EMAIL),
        ("customer_email", MaskKind.EMAIL),
        ("street", MaskKind.STREET),
        ("address1", MaskKind.STREET),
        ("address_2", MaskKind.STREET),
        ("shippingAddress", MaskKind.STREET),
        ("fullAddress", MaskKind.STREET),
        ("name", None),
        ("city", None),
        ("country_code", None),
        ("emailVerified", None),
    ],
)
def test_field_names_that_hold_personal_data(name: str, kind: MaskKind | None) -> None:
    assert personal_kind(name) is kind


def test_free_text_loses_addresses_and_numbers_but_keeps_dates_and_ips() -> None:
    text = (
        "login for Ann.Lee@example.com from 10.0.0.12 on 2026-11-25 failed; "
        "call +86 138 1234 5678 or 555-123-4567, order 42"
    )
    redacted = redact_text(text)
    assert "Ann.Lee@example.com" not in redacted
    assert "A***@example.com" in redacted
    assert "138 1234 5678" not in redacted and "+861****5678" in redacted
    assert "555-123-4567" not in redacted
    assert "10.0.0.12" in redacted
    assert "2026-11-25" in redacted
    assert "order 42" in redacted
    assert redact_text("request req-12345678 at /orders/12345678") == (
        "request req-12345678 at /orders/12345678"
    )
