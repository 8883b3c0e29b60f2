"""Signed requests: one HMAC scheme for open-API calls, carrier webhooks and app webhooks.

The sender signs a canonical string built from the request with HMAC-SHA256::

    AGORA-HMAC-SHA256\\n{key}\\n{unix_ts}\\n{nonce}\\n{METHOD}\\n{path}\\n{query}\\n{sha256(body)}

Path and query are canonicalised (percent-decoded, then re-encoded per RFC 3986 and, for the
query, sorted), so a proxy or client library that reorders parameters or escapes differently
does not break a signature, while any change a server would *read* differently does. The body is
hashed as raw bytes, before any parsing. The receiver refuses a stale or future timestamp, a
nonce it has seen, a bad signature, and an unknown or suspended key, each with its own code, so
a partner can tell which part of their client is wrong.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_to_bytes

from app.sharedstate import SharedState

__all__ = [
    "HEADERS",
    "HEADER_KEY",
    "HEADER_NONCE",
    "HEADER_SIGNATURE",
    "HEADER_TIMESTAMP",
    "MAX_SKEW_SECONDS",
    "NONCE_TTL_SECONDS",
    "SCHEME",
    "SignatureError",
    "SignatureErrorCode",
    "SignatureVerifier",
    "Signer",
    "SignerLookup",
    "VerifiedRequest",
    "canonical_path",
    "canonical_query",
    "canonical_string",
    "sign_request",
    "signature_of",
]

SCHEME = "AGORA-HMAC-SHA256"
HEADER_KEY = "X-Agora-Key"
HEADER_TIMESTAMP = "X-Agora-Timestamp"
HEADER_NONCE = "X-Agora-Nonce"
HEADER_SIGNATURE = "X-Agora-Signature"
HEADERS = (HEADER_KEY, HEADER_TIMESTAMP, HEADER_NONCE, HEADER_SIGNATURE)

MAX_SKEW_SECONDS = 300
# A timestamp stays acceptable for 2 x the skew, so a nonce must be remembered at least that
# long; one more second covers the boundary where both checks round the same instant.
NONCE_TTL_SECONDS = 2 * MAX_SKEW_SECONDS + 1

# Keys and nonces are RFC 3986 unreserved characters only (plus ':' in keys, for prefixes), so
# neither can smuggle a newline or another field into the canonical string.
_KEY = re.compile(r"^[A-Za-z0-9._~:-]{1,128}\Z")
_NONCE = re.compile(r"^[A-Za-z0-9._~-]{16,128}\Z")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}\Z")
_SIGNATURE = re.compile(r"^[0-9a-fA-F]{64}\Z")


class SignatureErrorCode(enum.StrEnum):
    SIGNATURE_MISSING = "SIGNATURE_MISSING"
    SIGNATURE_MALFORMED = "SIGNATURE_MALFORMED"
    SIGNATURE_EXPIRED = "SIGNATURE_EXPIRED"
    SIGNATURE_KEY_UNKNOWN = "SIGNATURE_KEY_UNKNOWN"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    SIGNATURE_KEY_SUSPENDED = "SIGNATURE_KEY_SUSPENDED"
    SIGNATURE_REPLAYED = "SIGNATURE_REPLAYED"


class SignatureError(Exception):
    """A refused signed request; ``code`` says which rule refused it."""

    def __init__(self, code: SignatureErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _encode(raw: bytes) -> str:
    # quote() leaves only ALPHA / DIGIT / "-" / "." / "_" / "~" alone and writes %XX upper-case.
    return quote(raw, safe="")


def canonical_path(path: str) -> str:
    """Each segment decoded and re-encoded; ``/`` separates segments and an encoded ``%2F``
    stays encoded, because a server routes the two differently."""
    return "/".join(_encode(unquote_to_bytes(segment)) for segment in (path or "/").split("/"))


def canonical_query(query: str) -> str:
    """``name=value`` pairs decoded to bytes, re-encoded, sorted by name then value, joined by
    ``&``. ``+`` is a space, as form decoding (and so the receiving server) reads it."""
    pairs = []
    for part in query.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        pairs.append(
            (
                _encode(unquote_to_bytes(name.replace("+", " "))),
                _encode(unquote_to_bytes(value.replace("+", " "))),
            )
        )
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_string(
    *, key: str, timestamp: int, nonce: str, method: str, path: str, query: str, body: bytes
) -> str:
    return "\n".join(
        (
            SCHEME,
            key,
            str(timestamp),
            nonce,
            method.upper(),
            canonical_path(path),
            canonical_query(query),
            hashlib.sha256(body).hexdigest(),
        )
    )


def signature_of(secret: bytes, canonical: str) -> str:
    return hmac.new(secret, canonical.encode(), hashlib.sha256).hexdigest()


def _secret_bytes(secret: bytes | str) -> bytes:
    return secret.encode() if isinstance(secret, str) else secret


def sign_request(
    *,
    key: str,
    secret: bytes | str,
    method: str,
    path: str,
    query: str = "",
    body: bytes | str = b"",
    timestamp: int | None = None,
    nonce: str | None = None,
    clock: Callable[[], float] = time.time,
) -> dict[str, str]:
    """The four headers for a request. ``query`` is the query string as sent (without ``?``);
    a string ``secret`` is used as its UTF-8 bytes, exactly as Agora issued it."""
    if not _KEY.match(key):
        raise ValueError(f"key {key!r} must be 1-128 RFC 3986 unreserved characters or ':'")
    nonce = nonce if nonce is not None else secrets.token_hex(16)
    if not _NONCE.match(nonce):
        raise ValueError("nonce must be 16-128 RFC 3986 unreserved characters")
    timestamp = timestamp if timestamp is not None else int(clock())
    canonical = canonical_string(
        key=key,
        timestamp=timestamp,
        nonce=nonce,
        method=method,
        path=path,
        query=query,
        body=body.encode() if isinstance(body, str) else body,
    )
    return {
        HEADER_KEY: key,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_NONCE: nonce,
        HEADER_SIGNATURE: signature_of(_secret_bytes(secret), canonical),
    }


@dataclass(frozen=True, slots=True)
class Signer:
    """What the receiver knows of a key: its active secrets (the current one, and the previous
    one during a rotation), whether it is suspended, and the scopes it acts with."""

    secrets: tuple[bytes, ...]
    suspended: bool = False
    scopes: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if not 1 <= len(self.secrets) <= 2:
            raise ValueError("a signer has one active secret, or two during a rotation")


SignerLookup = Callable[[str], Awaitable[Signer | None]]
"""The port the verifier asks for a key's signer: an API client, a carrier, or Agora itself."""


@dataclass(frozen=True, slots=True)
class VerifiedRequest:
    key: str
    nonce: str
    timestamp: int
    signer: Signer


class SignatureVerifier:
    """Checks a signed request, cheapest and least revealing rules first.

    The order is: headers present and well-formed, timestamp within the skew (no lookup for a
    stale request), key known, signature valid against either active secret, key not
    suspended, and only then the nonce is claimed. Claiming last means a request that fails any
    other rule leaves its nonce unused, so forged traffic cannot burn a partner's nonces, and a
    suspension is revealed only to a caller who holds the secret.
    """

    def __init__(
        self,
        signers: SignerLookup,
        nonces: SharedState,
        *,
        clock: Callable[[], float] = time.time,
        max_skew_seconds: int = MAX_SKEW_SECONDS,
        nonce_ttl_seconds: int = NONCE_TTL_SECONDS,
    ) -> None:
        if nonce_ttl_seconds < 2 * max_skew_seconds:
            raise ValueError("nonces must outlive the window in which a timestamp is accepted")
        self._signers = signers
        self._nonces = nonces
        self._clock = clock
        self._max_skew = max_skew_seconds
        self._nonce_ttl = nonce_ttl_seconds

    async def verify(
        self,
        *,
        method: str,
        path: str,
        query: str,
        body: bytes,
        headers: Mapping[str, str],
    ) -> VerifiedRequest:
        """``headers`` maps lower-case names to values (a Starlette ``Headers`` will do)."""
        key, stamp, nonce, signature = _read_headers(headers)
        timestamp = int(stamp)
        skew = self._clock() - timestamp
        if abs(skew) > self._max_skew:
            raise SignatureError(
                SignatureErrorCode.SIGNATURE_EXPIRED,
                f"The timestamp is {abs(skew):.0f} s {'behind' if skew > 0 else 'ahead of'} "
                f"the server clock; at most {self._max_skew} s are allowed.",
            )
        signer = await self._signers(key)
        if signer is None:
            raise SignatureError(
                SignatureErrorCode.SIGNATURE_KEY_UNKNOWN, f"No signing key is named {key!r}."
            )
        canonical = canonical_string(
            key=key,
            timestamp=timestamp,
            nonce=nonce,
            method=method,
            path=path,
            query=query,
            body=body,
        )
        given = signature.lower().encode()
        if not any(
            hmac.compare_digest(signature_of(secret, canonical).encode(), given)
            for secret in signer.secrets
        ):
            raise SignatureError(
                SignatureErrorCode.SIGNATURE_INVALID,
                "The signature does not match the request; see the canonical string in the docs.",
            )
        if signer.suspended:
            raise SignatureError(
                SignatureErrorCode.SIGNATURE_KEY_SUSPENDED, f"The key {key!r} is suspended."
            )
        if not await self._nonces.claim(f"signing:nonce:{key}:{nonce}", self._nonce_ttl):
            raise SignatureError(
                SignatureErrorCode.SIGNATURE_REPLAYED, "This nonce has been used already."
            )
        return VerifiedRequest(key=key, nonce=nonce, timestamp=timestamp, signer=signer)


def _read_headers(headers: Mapping[str, str]) -> tuple[str, str, str, str]:
    values = [headers.get(name.lower()) for name in HEADERS]
    missing = [name for name, value in zip(HEADERS, values, strict=True) if not value]
    if missing:
        raise SignatureError(
            SignatureErrorCode.SIGNATURE_MISSING,
            f"A signed request needs the headers {', '.join(HEADERS)}; missing: "
            f"{', '.join(missing)}.",
        )
    key, stamp, nonce, signature = (value or "" for value in values)
    for ok, what in (
        (_KEY.match(key), f"{HEADER_KEY} must be 1-128 unreserved characters"),
        (_TIMESTAMP.match(stamp), f"{HEADER_TIMESTAMP} must be whole Unix seconds"),
        (_NONCE.match(nonce), f"{HEADER_NONCE} must be 16-128 unreserved characters"),
        (_SIGNATURE.match(signature), f"{HEADER_SIGNATURE} must be 64 hex digits"),
    ):
        if not ok:
            raise SignatureError(SignatureErrorCode.SIGNATURE_MALFORMED, f"{what}.")
    return key, stamp, nonce, signature
