"""Masking personal data: the one place that knows what a masked phone, email or street looks
like, and which field names hold personal data.

The GraphQL layer applies these masks to marked fields, and the log filter uses ``redact_text``
on free text, so a masked value reads the same wherever it shows up. Masks keep just enough to
recognise a value you already know (``138****5678``, ``a***@example.com``) and never its length.
"""

from __future__ import annotations

import enum
import re

__all__ = [
    "MaskKind",
    "mask",
    "mask_email",
    "mask_phone",
    "mask_street",
    "personal_kind",
    "redact_text",
]

STARS = "***"
_PHONE_STARS = "****"
# A number with fewer digits than this keeps none of them: 3 + 4 kept would show almost all.
_MIN_DIGITS_TO_KEEP = 10


class MaskKind(enum.StrEnum):
    PHONE = "phone"
    EMAIL = "email"
    STREET = "street"


def mask_phone(value: str) -> str:
    """``+86 138-1234-5678`` → ``+86138****5678``: a leading ``+``, the first 3 and the last 4
    digits; shorter numbers are ``****``."""
    digits = re.sub(r"\D", "", value)
    if len(digits) < _MIN_DIGITS_TO_KEEP:
        return _PHONE_STARS
    plus = "+" if value.strip().startswith("+") else ""
    return f"{plus}{digits[:3]}{_PHONE_STARS}{digits[-4:]}"


def mask_email(value: str) -> str:
    """``ann@example.com`` → ``a***@example.com``: the domain stays, the mailbox does not."""
    local, at, domain = value.strip().rpartition("@")
    if not at or not local or not domain:
        return STARS
    return f"{local[0]}{STARS}@{domain}"


def mask_street(value: str) -> str:
    """Any street line is ``***``; city, region and country are separate, unmasked fields."""
    return STARS if value else value


_MASKS = {MaskKind.PHONE: mask_phone, MaskKind.EMAIL: mask_email, MaskKind.STREET: mask_street}


def mask(kind: MaskKind, value: str) -> str:
    return _MASKS[kind](value)


# Field names (snake or camel case) that hold personal data, by the mask they take. Anything
# that *ends* with one of these is personal too: ``billing_phone``, ``shippingAddress``.
_FIELD_KINDS = (
    (re.compile(r"phone$"), MaskKind.PHONE),
    (re.compile(r"email$"), MaskKind.EMAIL),
    (re.compile(r"(street|street_?[12]|address|address_?[12]|full_?address)$"), MaskKind.STREET),
)


def personal_kind(field_name: str) -> MaskKind | None:
    """The mask a field of this name needs, or None when the name is not personal data."""
    name = field_name.lower()
    for pattern, kind in _FIELD_KINDS:
        if pattern.search(name):
            return kind
    return None


_EMAIL_IN_TEXT = re.compile(r"[^\s@<>()\"',;:\[\]]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
# 7 or more digits, optionally after a +, grouped by spaces, hyphens or brackets. Dots are not
# separators, so IP addresses and decimals are left alone; digits that continue an identifier
# (``req-12345678``, ``v1.2``, a path) are not a phone.
_PHONE_IN_TEXT = re.compile(r"(?<![\w+\-./])\+?\(?\d(?:[\d \-()]*\d)?(?![\w])")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_MIN_PHONE_DIGITS = 7


def _phone_or_same(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(c.isdigit() for c in text)
    if digits < _MIN_PHONE_DIGITS or _ISO_DATE.fullmatch(text.strip()):
        return text
    return mask_phone(text)


def redact_text(text: str) -> str:
    """Masks every email address and phone-like number in free text (log lines, traces).

    Best effort by design: it catches the shapes people and libraries write, and the
    structured paths (marked fields, encrypted columns) do not rely on it.
    """
    if "@" in text:
        text = _EMAIL_IN_TEXT.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE_IN_TEXT.sub(_phone_or_same, text)
