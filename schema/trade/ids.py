"""Cart IDs that only their holder can name.

An anonymous cart has no owner to check, so its ID is the credential, as in Shopify's
storefront API: ``Cart:<pk>:<tag>`` in base64url, where the tag is an HMAC of the key under a
server secret. A guessed or altered ID fails the tag and reaches nothing, and the database keeps
no token at all. Once a shopper owns the cart, the ID alone is not enough: only they reach it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

import strawberry

__all__ = ["CartIds"]

_TAG_BYTES = 16


class CartIds:
    def __init__(self, secret: bytes) -> None:
        self._key = hashlib.sha256(b"agora-cart-id:" + secret).digest()

    def _tag(self, pk: int) -> str:
        digest = hmac.new(self._key, f"cart:{pk}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest[:_TAG_BYTES]).decode().rstrip("=")

    def encode(self, pk: int) -> strawberry.ID:
        raw = f"Cart:{pk}:{self._tag(pk)}".encode()
        return strawberry.ID(base64.urlsafe_b64encode(raw).decode().rstrip("="))

    def decode(self, global_id: str) -> int | None:
        """The cart's key, or None for anything this server did not issue."""
        try:
            raw = base64.urlsafe_b64decode(global_id + "=" * (-len(global_id) % 4)).decode()
            type_name, pk_text, tag = raw.split(":")
            pk = int(pk_text)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return None
        if type_name != "Cart" or not 0 < pk < 2**63:
            return None
        return pk if hmac.compare_digest(tag, self._tag(pk)) else None
