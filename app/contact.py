"""Contact details shared by every domain that keeps them: one rule for what an email or phone
looks like, and the port through which they are sealed at rest.

Identity keeps a user's email and phone; trade keeps a buyer's on carts and orders. Both must
accept and refuse the same values, and both encrypt through the same keyring without importing
the security domain, so the rules and the port live here, in the shared kernel, and
``app/main.py`` (or the GraphQL adapter) hands in ``app.security.blind_index.IndexedFieldCipher``.
"""

from __future__ import annotations

import re
from typing import Protocol

__all__ = [
    "MAX_EMAIL_LENGTH",
    "PersonalDataCipher",
    "is_valid_email",
    "is_valid_phone",
    "normalize_email",
    "normalize_phone",
]

MAX_EMAIL_LENGTH = 320
# Deliberately loose: the only real check of an address is mail reaching it.
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
# E.164 allows 15 digits; a few more leave room for extensions written inline.
_PHONE = re.compile(r"^\+?[0-9]{6,18}$")


class PersonalDataCipher(Protocol):
    """Field encryption with key ids (AES-GCM) and a deterministic keyed index."""

    @property
    def active_kid(self) -> str: ...

    def encrypt(self, plaintext: str, *, context: str = "") -> str: ...

    def decrypt(self, stored: str, *, context: str = "") -> str: ...

    def key_id_of(self, stored: str) -> str: ...

    def blind_index(self, value: str, *, context: str) -> str: ...


def normalize_email(email: str) -> str:
    return email.strip().lower()


def normalize_phone(phone: str) -> str:
    """Digits with an optional leading ``+``; spaces, dots, hyphens and brackets dropped."""
    return re.sub(r"[\s.()\-]", "", phone)


def is_valid_email(normalized: str) -> bool:
    return bool(_EMAIL.match(normalized)) and len(normalized) <= MAX_EMAIL_LENGTH


def is_valid_phone(normalized: str) -> bool:
    return bool(_PHONE.match(normalized))
