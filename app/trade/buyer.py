"""The buyer's contact details and shipping address, sealed at rest.

Email, phone and street lines are personal data: they are stored AES-GCM encrypted through the
``PersonalDataCipher`` port, under contexts shared by carts and orders, so checkout copies the
sealed values onto the order without ever decrypting them. City, region, postal code and
country stay clear, because shipping rates and reports need them and they identify no one on
their own. The email also gets a blind index, so the back office can find orders by email.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from app.contact import (
    PersonalDataCipher,
    is_valid_email,
    is_valid_phone,
    normalize_email,
    normalize_phone,
)
from app.errors import DomainError, Problem
from app.trade.errors import TradeErrorCode

__all__ = [
    "EMAIL_CONTEXT",
    "Address",
    "Contact",
    "email_index",
    "open_address",
    "open_contact",
    "reseal",
    "seal_address",
    "seal_contact",
    "validate_address",
    "validate_contact",
]

EMAIL_CONTEXT = "trade.email"
PHONE_CONTEXT = "trade.phone"
STREET_CONTEXT = "trade.street"
EMAIL_INDEX_CONTEXT = "trade.email_index"

_COUNTRY = re.compile(r"^[A-Z]{2}$")
_REGION = re.compile(r"^[A-Z0-9]{1,3}$")
_LIMITS = {"name": 200, "street1": 200, "street2": 200, "city": 120, "postal_code": 20}


@dataclass(frozen=True, slots=True)
class Address:
    name: str
    street1: str
    street2: str
    city: str
    region: str
    postal_code: str
    country_code: str


@dataclass(frozen=True, slots=True)
class Contact:
    email: str | None
    phone: str | None


def _field_name(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def validate_address(address: Address, *field: str) -> Address:
    """The address trimmed and upper-cased where codes are, or every problem with it at once."""
    clean = Address(
        name=address.name.strip(),
        street1=address.street1.strip(),
        street2=address.street2.strip(),
        city=address.city.strip(),
        region=address.region.strip().upper(),
        postal_code=address.postal_code.strip().upper(),
        country_code=address.country_code.strip().upper(),
    )
    problems = [
        Problem(TradeErrorCode.INVALID, f"At most {limit} characters.", (*field, _field_name(key)))
        for key, limit in _LIMITS.items()
        if len(getattr(clean, key)) > limit
    ]
    for key in ("name", "street1", "city"):
        if not getattr(clean, key):
            problems.append(
                Problem(TradeErrorCode.INVALID, "This is required.", (*field, _field_name(key)))
            )
    if not _COUNTRY.match(clean.country_code):
        problems.append(
            Problem(
                TradeErrorCode.INVALID, "Use an ISO 3166 alpha-2 code.", (*field, "countryCode")
            )
        )
    if clean.region and not _REGION.match(clean.region):
        problems.append(
            Problem(
                TradeErrorCode.INVALID,
                'Use the ISO 3166-2 subdivision code without the country, e.g. "CA".',
                (*field, "region"),
            )
        )
    if problems:
        raise DomainError(problems)
    return clean


def validate_contact(email: str | None, phone: str | None) -> Contact:
    """Normalised contact details; an empty string clears a value."""
    problems = []
    clean_email = normalize_email(email) if email else None
    if clean_email is not None and not is_valid_email(clean_email):
        problems.append(Problem(TradeErrorCode.INVALID, "Enter a valid email address.", ("email",)))
    clean_phone = normalize_phone(phone) if phone else None
    if clean_phone is not None and not is_valid_phone(clean_phone):
        problems.append(Problem(TradeErrorCode.INVALID, "Enter a valid phone number.", ("phone",)))
    if problems:
        raise DomainError(problems)
    return Contact(clean_email, clean_phone)


def seal_address(address: Address, cipher: PersonalDataCipher) -> dict[str, Any]:
    def seal(line: str) -> str:
        return cipher.encrypt(line, context=STREET_CONTEXT) if line else ""

    return {
        "name": address.name,
        "street1": seal(address.street1),
        "street2": seal(address.street2),
        "city": address.city,
        "region": address.region,
        "postal_code": address.postal_code,
        "country_code": address.country_code,
    }


def open_address(stored: dict[str, Any] | None, cipher: PersonalDataCipher) -> Address | None:
    if not stored:
        return None

    def unseal(line: str) -> str:
        return cipher.decrypt(line, context=STREET_CONTEXT) if line else ""

    return Address(
        name=stored["name"],
        street1=unseal(stored["street1"]),
        street2=unseal(stored["street2"]),
        city=stored["city"],
        region=stored["region"],
        postal_code=stored["postal_code"],
        country_code=stored["country_code"],
    )


def seal_contact(contact: Contact, cipher: PersonalDataCipher) -> tuple[str | None, str | None]:
    """``(sealed_email, sealed_phone)``."""
    return (
        cipher.encrypt(contact.email, context=EMAIL_CONTEXT) if contact.email else None,
        cipher.encrypt(contact.phone, context=PHONE_CONTEXT) if contact.phone else None,
    )


def open_contact(
    sealed_email: str | None, sealed_phone: str | None, cipher: PersonalDataCipher
) -> Contact:
    return Contact(
        cipher.decrypt(sealed_email, context=EMAIL_CONTEXT) if sealed_email else None,
        cipher.decrypt(sealed_phone, context=PHONE_CONTEXT) if sealed_phone else None,
    )


def reseal(record: Any, cipher: PersonalDataCipher) -> bool:
    """Re-encrypt a cart's or order's sealed values under the active key (key rotation).

    True when something changed; values already under the active key are left alone, so a
    rotation that stopped half-way can run again.
    """
    address = record.shipping_address or {}
    sealed = [
        record.sealed_email,
        record.sealed_phone,
        address.get("street1"),
        address.get("street2"),
    ]
    if all(not v or cipher.key_id_of(v) == cipher.active_kid for v in sealed):
        return False
    contact = open_contact(record.sealed_email, record.sealed_phone, cipher)
    record.sealed_email, record.sealed_phone = seal_contact(contact, cipher)
    opened = open_address(record.shipping_address, cipher)
    if opened is not None:
        record.shipping_address = seal_address(opened, cipher)
    return True


def email_index(cipher: PersonalDataCipher, email: str) -> str:
    return cipher.blind_index(normalize_email(email), context=EMAIL_INDEX_CONTEXT)
