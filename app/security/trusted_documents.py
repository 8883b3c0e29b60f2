"""Trusted documents: the GraphQL operations first-party frontends registered ahead of time.

A document's id is ``sha256:<hex>`` of its exact text, so the id names the text and nothing
else: a registered document can never change under its id, and a process may cache what it
looked up for as long as it likes. Frontends send ``{"documentId": "sha256:..."}`` (or
Apollo's ``extensions.persistedQuery.sha256Hash``) instead of the query; with
``AGORA_REQUIRE_TRUSTED_DOCUMENTS`` on, that is the only way non-partner traffic runs anything.
``client`` records which frontend registered a document, for bookkeeping (``agora documents
list --client``); the id alone finds it.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import String, Text, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, utcnow

__all__ = [
    "DOCUMENT_ID_PREFIX",
    "DocumentLookup",
    "Registered",
    "TrustedDocument",
    "document_hash",
    "parse_document_id",
    "register_documents",
]

DOCUMENT_ID_PREFIX = "sha256:"
_HEX = frozenset("0123456789abcdef")


class TrustedDocument(Base):
    __tablename__ = "trusted_documents"

    # The lower-case hex SHA-256 of ``body`` (UTF-8); the API shows it as sha256:<hex>.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    client: Mapped[str] = mapped_column(String(100), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


def document_hash(text: str) -> str:
    """The hex SHA-256 of the document's exact UTF-8 text (no normalisation: clients hash
    what they send, as Apollo's persisted queries do)."""
    return hashlib.sha256(text.encode()).hexdigest()


def parse_document_id(value: str) -> str | None:
    """The hex digest of ``sha256:<hex>`` (a bare 64-digit hex is accepted too), or None."""
    digest = value.removeprefix(DOCUMENT_ID_PREFIX).lower()
    if len(digest) != 64 or not set(digest) <= _HEX:
        return None
    return digest


@dataclass(frozen=True, slots=True)
class Registered:
    document_id: str
    created: bool


async def register_documents(
    session: AsyncSession, client: str, texts: Iterable[str], *, now: datetime | None = None
) -> list[Registered]:
    """Store each text under its hash for ``client``; a text already stored is left as it is
    (its first registrant keeps it), so registering again is harmless."""
    results = []
    for text in texts:
        digest = document_hash(text)
        known = await session.get(TrustedDocument, digest)
        if known is None:
            session.add(
                TrustedDocument(id=digest, body=text, client=client, created_at=now or utcnow())
            )
        results.append(Registered(DOCUMENT_ID_PREFIX + digest, created=known is None))
    await session.flush()
    return results


class DocumentLookup:
    """A document's text by hash, with a bounded per-process cache of the ones found (safe:
    a hash always names the same text). Misses are not cached, so a document registered
    while the server runs is found at once."""

    def __init__(
        self,
        sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
        maxsize: int = 2048,
    ) -> None:
        self._sessions = sessions
        self._cache: OrderedDict[str, str] = OrderedDict()
        self._maxsize = maxsize

    async def text(self, digest: str) -> str | None:
        cached = self._cache.get(digest)
        if cached is not None:
            self._cache.move_to_end(digest)
            return cached
        async with self._sessions() as session:
            body = await session.scalar(
                select(TrustedDocument.body).where(TrustedDocument.id == digest)
            )
        if body is not None:
            self._cache[digest] = body
            if len(self._cache) > self._maxsize:
                self._cache.popitem(last=False)
        return body
