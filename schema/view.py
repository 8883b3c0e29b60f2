"""The ``/graphql`` endpoint: strawberry's ASGI view with Agora's context."""

from __future__ import annotations

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL

from app.identity.service import default_shop, shop_by_handle
from schema.context import AgoraContext, Services

__all__ = ["EXAMPLE_QUERY", "AgoraGraphQL"]

SHOP_HEADER = "x-agora-shop"

EXAMPLE_QUERY = """\
# Agora: a first query. Send X-Agora-Shop: demo (or nothing, while there is one shop).
query FirstProducts {
  shop { name currencyCode }
  products(first: 5, sortKey: PRICE) {
    edges {
      cursor
      node {
        title
        category { name }
        priceRange { min { amount currencyCode } }
        variants { sku quantityAvailable price { amount } }
      }
    }
    pageInfo { hasNextPage endCursor }
  }
}
"""


class AgoraGraphQL(GraphQL[AgoraContext, None]):
    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> AgoraContext:
        services: Services = request.app.state.services
        handle = request.headers.get(SHOP_HEADER)
        problem = None
        async with services.db.reader() as session:
            shop = await (shop_by_handle(session, handle) if handle else default_shop(session))
        if handle and shop is None:
            problem = f"No shop has the handle {handle!r}."
        return AgoraContext(
            services=services,
            request=request,  # type: ignore[arg-type]
            response=response if isinstance(response, Response) else None,
            request_id=request.scope.get("state", {}).get("request_id", ""),
            principal=request.scope.get("state", {}).get("principal"),
            shop=shop,
            shop_problem=problem,
        )

    async def render_graphql_ide(self, request: Request) -> Response:
        response = await super().render_graphql_ide(request)
        # Pre-load the example so a first visit shows something that works.
        body = (
            bytes(response.body)
            .replace(b"parameters.q || EXAMPLE_QUERY", b"parameters.q || " + _js(EXAMPLE_QUERY), 1)
            .replace(
                b"React.useState(parameters.headers)",
                b"React.useState(parameters.headers || " + _js('{"X-Agora-Shop": "demo"}') + b")",
                1,
            )
        )
        return Response(body, status_code=response.status_code, media_type="text/html")


def _js(text: str) -> bytes:
    return orjson.dumps(text)
