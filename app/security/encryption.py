"""Field encryption at rest: AES-256-GCM with the key id stored beside every value.

A value reads ``v1.<kid>.<base64url(nonce || ciphertext)>``. Keys live in a keyring file (one
active key, any number of retired ones that still decrypt), so keys rotate without a
migration: new writes use the active key and old values are re-encrypted in batches.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from app.security.keys import MissingKeyError, write_private

__all__ = ["DecryptionError", "FieldCipher", "load_or_create_keyring"]

_VERSION = "v1"
_NONCE_BYTES = 12


class DecryptionError(ValueError):
    """The value was not written by this keyring or was altered."""


@dataclass(frozen=True)
class FieldCipher:
    active_kid: str
    keys: dict[str, bytes]

    def encrypt(self, plaintext: str, *, context: str = "") -> str:
        """``context`` (e.g. ``users.phone``) is authenticated, so a value cannot be moved to
        another column and still decrypt."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = AESGCM(self.keys[self.active_kid]).encrypt(
            nonce, plaintext.encode(), context.encode()
        )
        body = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self.active_kid}.{body}"

    def decrypt(self, stored: str, *, context: str = "") -> str:
        try:
            version, kid, body = stored.split(".", 2)
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            if version != _VERSION or kid not in self.keys:
                raise DecryptionError("unknown key id or version")
            nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return AESGCM(self.keys[kid]).decrypt(nonce, sealed, context.encode()).decode()
        except DecryptionError:
            raise
        except Exception as exc:
            raise DecryptionError("value cannot be decrypted") from exc

    def key_id_of(self, stored: str) -> str:
        return stored.split(".", 2)[1]

    def rotated(self) -> FieldCipher:
        """A cipher with a new active key; the old ones still decrypt."""
        kid = secrets.token_hex(4)
        return FieldCipher(kid, {**self.keys, kid: AESGCM.generate_key(bit_length=256)})

    def to_json(self) -> str:
        return json.dumps(
            {
                "active": self.active_kid,
                "keys": {k: base64.b64encode(v).decode() for k, v in self.keys.items()},
            }
        )

    @classmethod
    def from_json(cls, text: str) -> FieldCipher:
        data = json.loads(text)
        return cls(data["active"], {k: base64.b64decode(v) for k, v in data["keys"].items()})


def load_or_create_keyring(path: Path, *, create: bool = True) -> FieldCipher:
    if not path.exists():
        if not create:
            raise MissingKeyError(f"{path} does not exist; mount the data keyring")
        kid = secrets.token_hex(4)
        fresh = FieldCipher(kid, {kid: AESGCM.generate_key(bit_length=256)})
        write_private(path, fresh.to_json().encode())
    return FieldCipher.from_json(path.read_text())
