"""Trusted documents over the websocket: the same rule as ``/graphql`` over HTTP.

A caller held to registered documents (``schema.trusted.is_restricted``) must not get around
that by subscribing over graphql-transport-ws with an ad-hoc document. Each ``subscribe``
message is put through ``trusted_text`` before strawberry sees it: a named document
(``documentId`` or Apollo's ``persistedQuery``) is swapped in, and a refusal is answered with
an ``error`` message carrying the code, leaving the connection and its other operations open.
"""

from __future__ import annotations

from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from app.security.trusted_documents import DocumentLookup
from schema.context import AgoraContext
from schema.trusted import DocumentRefusal, is_restricted, trusted_text

__all__ = ["TrustedTransportWSHandler"]


class TrustedTransportWSHandler(BaseGraphQLTransportWSHandler[AgoraContext, None]):
    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if not self.connection_acknowledged:  # strawberry closes the socket (4401)
            await super().handle_subscribe(message)
            return
        context = self.context
        payload = message["payload"]
        lookup: DocumentLookup = self.view.document_lookup(context.request)  # type: ignore[attr-defined]
        try:
            text = await trusted_text(
                payload,  # type: ignore[arg-type]
                payload.get("query"),
                restricted=is_restricted(context.services.settings, context.principal),
                lookup=lookup,
            )
        except DocumentRefusal as refusal:
            await self.send_message(
                {
                    "id": message["id"],
                    "type": "error",
                    "payload": [{"message": refusal.reason, "extensions": {"code": refusal.code}}],
                }
            )
            return
        if text != payload.get("query"):
            message = {**message, "payload": {**payload, "query": text}}  # type: ignore[typeddict-item]
        await super().handle_subscribe(message)
