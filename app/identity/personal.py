"""A user's email and phone at rest: the port identity encrypts them through, and the helpers
that read and write them.

Identity may not import the security domain, so it names what it needs here
(``app.contact.PersonalDataCipher``: AES-GCM with a key id beside each value, plus a keyed
blind index) and
``app/main.py``, the CLI and the GraphQL adapter hand it an implementation
(``app.security.blind_index.IndexedFieldCipher``).

The email is also the login key. Its ciphertext is random, so lookups and the unique
constraint use ``email_index``: an HMAC of the normalised address under a key that does not
change when the data keys rotate.
"""

from __future__ import annotations

from app.contact import PersonalDataCipher
from app.identity.models import User

__all__ = [
    "EMAIL_CONTEXT",
    "EMAIL_INDEX_CONTEXT",
    "LEGACY_INDEX_PREFIX",
    "PHONE_CONTEXT",
    "email_index",
    "email_of",
    "phone_of",
    "reseal",
    "seal_contact",
]

EMAIL_CONTEXT = "users.email"
PHONE_CONTEXT = "users.phone"
EMAIL_INDEX_CONTEXT = "users.email_index"
# Rows written before encryption get this index from migration 0003 and still hold plain
# values; `agora keys rotate-data` seals them.
LEGACY_INDEX_PREFIX = "legacy:"


def email_index(cipher: PersonalDataCipher, normalized_email: str) -> str:
    return cipher.blind_index(normalized_email, context=EMAIL_INDEX_CONTEXT)


def seal_contact(user: User, cipher: PersonalDataCipher, *, email: str, phone: str | None) -> None:
    """Store an already normalised email and phone on ``user``, encrypted under the active
    key, with the email's blind index."""
    user.sealed_email = cipher.encrypt(email, context=EMAIL_CONTEXT)
    user.email_index = email_index(cipher, email)
    user.sealed_phone = None if phone is None else cipher.encrypt(phone, context=PHONE_CONTEXT)


def _is_legacy(user: User) -> bool:
    return user.email_index.startswith(LEGACY_INDEX_PREFIX)


def email_of(user: User, cipher: PersonalDataCipher) -> str:
    if _is_legacy(user):
        return user.sealed_email
    return cipher.decrypt(user.sealed_email, context=EMAIL_CONTEXT)


def phone_of(user: User, cipher: PersonalDataCipher) -> str | None:
    if user.sealed_phone is None or _is_legacy(user):
        return user.sealed_phone
    return cipher.decrypt(user.sealed_phone, context=PHONE_CONTEXT)


def reseal(user: User, cipher: PersonalDataCipher) -> bool:
    """Re-encrypt ``user``'s values under the active key (sealing legacy plain values).

    True when something changed; a row already under the active key is left alone, so a
    rotation that stopped half-way can simply run again.
    """
    current = [user.sealed_email] + ([user.sealed_phone] if user.sealed_phone else [])
    if not _is_legacy(user) and all(cipher.key_id_of(v) == cipher.active_kid for v in current):
        return False
    seal_contact(user, cipher, email=email_of(user, cipher), phone=phone_of(user, cipher))
    return True
