"""Running trusted documents at ``/graphql``: a request may name a registered document by id
instead of sending its text, and first-party traffic may be held to registered documents.

Two spellings of the id are accepted:

- ``{"documentId": "sha256:<hex>", "variables": ...}`` (GraphQL over HTTP's trusted documents);
- ``{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}`` (Apollo).

Who is held to registered documents (``AGORA_REQUIRE_TRUSTED_DOCUMENTS=true``): everyone who is
not a partner app. A partner app proves itself with an ``app:<client_id>`` token or a request
signature, which nobody else can produce, and sends ad-hoc queries within its cost limits.
First-party frontends (storefronts, back offices) run anonymously or with users' tokens, and
anyone can send such requests; so "first-party" is the unforgeable complement of "partner app",
not a header a caller could leave off. A full query whose text is a registered document runs
too: the restriction is on what runs, not on how it is spelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from strawberry.http import GraphQLRequestData

from app.config import Settings
from app.security.principal import Principal
from app.security.trusted_documents import DocumentLookup, document_hash, parse_document_id
from schema.errors import ApiErrorCode

__all__ = ["DocumentRefusal", "is_restricted", "resolve_trusted", "trusted_text"]


class DocumentRefusal(HTTPException):
    """A refusal about documents, with the error code the client sees."""

    def __init__(self, status_code: int, code: ApiErrorCode, reason: str) -> None:
        super().__init__(status_code, reason)
        self.code = code


def is_restricted(settings: Settings, principal: Principal | None) -> bool:
    """Whether this caller may run registered documents only."""
    if not settings.require_trusted_documents:
        return False
    return principal is None or not principal.subject.startswith("app:")


def _named_id(body: dict[str, Any]) -> str | None:
    named = body.get("documentId")
    if named is None:
        extensions = body.get("extensions")
        persisted = extensions.get("persistedQuery") if isinstance(extensions, dict) else None
        named = persisted.get("sha256Hash") if isinstance(persisted, dict) else None
    if named is not None and not isinstance(named, str):
        raise DocumentRefusal(400, ApiErrorCode.BAD_REQUEST, "documentId must be a string.")
    return named


async def trusted_text(
    body: Mapping[str, Any], query: str | None, *, restricted: bool, lookup: DocumentLookup
) -> str | None:
    """The document text to run for a request ``body`` (its ``query`` as parsed), or refused
    (``DocumentRefusal``). Shared by ``/graphql`` over HTTP and over the websocket, so neither
    transport is a way around the other's rule."""
    named = _named_id(dict(body))
    if named is None:
        if not restricted or query is None:
            return query
        if await lookup.text(document_hash(query)) is not None:
            return query
        raise DocumentRefusal(
            403,
            ApiErrorCode.DOCUMENT_NOT_TRUSTED,
            "This client may only run registered documents: send documentId.",
        )
    digest = parse_document_id(named)
    if digest is None:
        raise DocumentRefusal(
            400, ApiErrorCode.BAD_REQUEST, "documentId must be sha256:<64 hex digits>."
        )
    if query is not None and document_hash(query) != digest:
        raise DocumentRefusal(
            400, ApiErrorCode.BAD_REQUEST, "The query's SHA-256 is not the documentId."
        )
    text = await lookup.text(digest)
    if text is not None:
        return text
    if query is not None and not restricted:
        return query
    if query is not None:
        raise DocumentRefusal(
            403, ApiErrorCode.DOCUMENT_NOT_TRUSTED, "This document is not registered."
        )
    raise DocumentRefusal(
        400, ApiErrorCode.PERSISTED_QUERY_NOT_FOUND, f"No document is registered as {named}."
    )


async def resolve_trusted(
    request: Request,
    data: GraphQLRequestData,
    *,
    settings: Settings,
    principal: Principal | None,
    lookup: DocumentLookup,
) -> GraphQLRequestData:
    """``data`` with the text of the document it names, or refused (``DocumentRefusal``)."""
    raw = await request.body()  # already read (and cached) by strawberry's parse
    body = orjson.loads(raw) if raw else {}
    text = await trusted_text(
        body if isinstance(body, dict) else {},
        data.query,
        restricted=is_restricted(settings, principal),
        lookup=lookup,
    )
    return data if text == data.query else replace(data, query=text)
