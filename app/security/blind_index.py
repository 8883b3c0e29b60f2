"""Field encryption plus a blind index: what the ``app.contact.PersonalDataCipher`` port asks for.

A blind index is HMAC-SHA256 of a normalised value, so equal values can be found and kept
unique without decrypting anything. Its key is derived (HKDF-SHA256) from the keyring's
*founding* key, the first key in the file. A data-key rotation appends keys and never drops
one, so the index key, and every index already stored, survives rotation. The index key is
never used to encrypt, and the founding key is never used for an index directly.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.security.encryption import FieldCipher

__all__ = ["IndexedFieldCipher", "derive_index_key"]

_INFO = b"agora/blind-index/v1"


@functools.lru_cache(maxsize=8)
def _hkdf(founding_key: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(founding_key)


def derive_index_key(cipher: FieldCipher) -> bytes:
    """The blind-index key of a keyring: stable for as long as its first key is kept."""
    return _hkdf(next(iter(cipher.keys.values())))


@dataclass(frozen=True, slots=True)
class IndexedFieldCipher:
    cipher: FieldCipher
    index_key: bytes

    @classmethod
    def of(cls, cipher: FieldCipher) -> IndexedFieldCipher:
        return cls(cipher, derive_index_key(cipher))

    @property
    def active_kid(self) -> str:
        return self.cipher.active_kid

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        return self.cipher.encrypt(plaintext, context=context)

    def decrypt(self, stored: str, *, context: str = "") -> str:
        return self.cipher.decrypt(stored, context=context)

    def key_id_of(self, stored: str) -> str:
        return self.cipher.key_id_of(stored)

    def blind_index(self, value: str, *, context: str) -> str:
        # The context keeps indexes of different columns apart: equal values, unequal digests.
        message = context.encode() + b"\x00" + value.encode()
        return hmac.new(self.index_key, message, hashlib.sha256).hexdigest()
