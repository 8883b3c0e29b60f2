"""An app's webhook secret: made, sealed with the data keyring, and opened to sign with.

It is separate from the client and signing secrets, so code that only verifies webhooks never
holds a secret that could call the API.
"""

from __future__ import annotations

import secrets

from app.security.encryption import FieldCipher

__all__ = ["new_webhook_secret", "open_webhook_secret"]

_SEALING_CONTEXT = "apps.webhook_secret"


def new_webhook_secret(cipher: FieldCipher) -> tuple[str, str]:
    """A fresh secret and its sealed form."""
    secret = f"whsec_{secrets.token_urlsafe(32)}"
    return secret, cipher.encrypt(secret, context=_SEALING_CONTEXT)


def open_webhook_secret(cipher: FieldCipher, sealed: str) -> bytes:
    return cipher.decrypt(sealed, context=_SEALING_CONTEXT).encode()
