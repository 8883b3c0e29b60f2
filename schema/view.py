"""The ``/graphql`` endpoint: strawberry's ASGI view with Agora's context, answering in the
format the client's ``Accept`` asks for.

JSON is encoded with orjson (``encode_json``): several times faster than the standard library
on big lists, and UTF-8 as it is, never ``\\u`` escapes. ``application/graphql-response+json``
follows GraphQL over HTTP: a request that fails before execution (unparsable, invalid,
malformed) has no ``data`` and a 4xx status, so clients and proxies can tell it from a partial
result. XML is the JSON response mapped by ``schema.xml``. A client that accepts none of these
gets 406 before anything runs.

A request may name a trusted document instead of sending its text (``schema.trusted``). In
prod, GraphiQL is not served at ``/graphql``; ``/sandbox/graphiql`` serves it to partner
developers, whose sandbox token (pasted into its headers) is what makes it work.
"""

from __future__ import annotations

from typing import Any

import orjson
from cross_web import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.ides import get_graphql_ide_html
from strawberry.types import ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.unset import UNSET, UnsetType

from app.identity.models import Shop
from app.security.tokens import InvalidTokenError
from app.security.trusted_documents import DocumentLookup
from schema.context import OTHER_SHOP_PROBLEM, AgoraContext, Services
from schema.errors import ApiErrorCode
from schema.negotiation import ResponseFormat, negotiate
from schema.trusted import DocumentRefusal, resolve_trusted
from schema.trusted_ws import TrustedTransportWSHandler
from schema.xml import to_xml

__all__ = ["EXAMPLE_QUERY", "AgoraGraphQL", "scoped_shop"]

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


_CODES_BY_STATUS = {
    400: ApiErrorCode.BAD_REQUEST.value,
    404: ApiErrorCode.NOT_FOUND.value,
    405: ApiErrorCode.METHOD_NOT_ALLOWED.value,
    406: ApiErrorCode.NOT_ACCEPTABLE.value,
}
_SANDBOX_HEADERS = '{"Authorization": "Bearer <token from appSandboxTokenCreate>"}'
_NOT_ACCEPTABLE = (
    "Accept one of application/json, application/graphql-response+json or application/xml."
)


class AgoraGraphQL(GraphQL[AgoraContext, None]):
    _documents: DocumentLookup | None = None
    # Subscriptions over the websocket follow the trusted-documents rule too.
    graphql_transport_ws_handler_class = TrustedTransportWSHandler

    def encode_json(self, data: object) -> bytes:
        """orjson, for every JSON body strawberry writes (responses and streamed parts)."""
        return orjson.dumps(data)

    def document_lookup(self, request: Request | WebSocket) -> DocumentLookup:
        """Registered documents by hash, one cache per app (both transports share it)."""
        if self._documents is None:
            self._documents = DocumentLookup(request.app.state.services.db.reader)
        return self._documents

    async def execute_operation(  # type: ignore[override]
        self,
        request: Request,
        request_adapter: Any,
        request_data: GraphQLRequestData | list[GraphQLRequestData],
        context: AgoraContext,
        root_value: None,
        sub_response: Response,
    ) -> Any:
        """Swap a named trusted document in for its id, or refuse a document this caller may
        not run, before strawberry parses anything."""
        if not isinstance(request_data, list):
            request_data = await resolve_trusted(
                request,
                request_data,
                settings=context.services.settings,
                principal=context.principal,
                lookup=self.document_lookup(request),
            )
        return await super().execute_operation(
            request=request,
            request_adapter=request_adapter,
            request_data=request_data,
            context=context,
            root_value=root_value,
            sub_response=sub_response,
        )

    async def sandbox_graphiql(self, request: Request) -> Response:
        """GraphiQL for partner developers, in every environment. The page holds nothing:
        it queries ``/graphql`` with the headers the developer gives it, and in prod only a
        sandbox token gets introspection (``schema.introspection``) or any partner data."""
        body = (
            self._ide_page()
            .replace(b'window.location.href.split("?")[0]', b'new URL("/graphql", location).href')
            .replace(
                b"React.useState(parameters.headers)",
                b"React.useState(parameters.headers || " + _js(_SANDBOX_HEADERS) + b")",
                1,
            )
        )
        return Response(body, media_type="text/html")

    def _ide_page(self) -> bytes:
        html = get_graphql_ide_html("graphiql").encode()
        return html.replace(
            b"parameters.q || EXAMPLE_QUERY", b"parameters.q || " + _js(EXAMPLE_QUERY), 1
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive=receive)
        response_format = negotiate(request.headers.get("accept"))
        if response_format is None and not self.should_render_graphql_ide(
            self.request_adapter_class(request)
        ):
            response = _refusal(ResponseFormat.JSON, HTTPException(406, _NOT_ACCEPTABLE))
        else:
            # The IDE page is HTML, which no format names; it asked for text/html.
            request.state.response_format = response_format or ResponseFormat.JSON
            try:
                response = await self.run(request)
            except HTTPException as error:
                response = _refusal(request.state.response_format, error)
        await response(scope, receive, send)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        # Strawberry hands create_response only this, so it carries the negotiated format.
        sub_response.media_type = request.state.response_format
        sub_response.headers["vary"] = "Accept"
        return sub_response

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response_data = await super().process_result(request, result)
        if request.state.response_format is ResponseFormat.GRAPHQL_RESPONSE and isinstance(
            result, PreExecutionError
        ):
            # The request failed before execution, so there is no data, not even null.
            del response_data["data"]
        return response_data

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        response_format = sub_response.media_type
        if response_format == ResponseFormat.JSON or isinstance(response_data, list):
            return super().create_response(response_data, sub_response)
        if response_format == ResponseFormat.XML:
            body: str | bytes = to_xml(response_data)
            status = 200
        else:
            body = self.encode_json(response_data)
            status = 200 if "data" in response_data else 400
        response = Response(body, status_code=sub_response.status_code or status)
        response.headers.raw.extend(sub_response.headers.raw)
        response.headers["content-type"] = _content_type(response_format)
        response.background = sub_response.background
        return response

    async def get_context(
        self, request: Request | WebSocket, response: Response | WebSocket
    ) -> AgoraContext:
        services: Services = request.app.state.services
        principal = request.scope.get("state", {}).get("principal")
        shop, problem = await scoped_shop(
            services, request.headers.get(SHOP_HEADER), principal.shop_id if principal else None
        )
        return AgoraContext(
            services=services,
            request=request,  # type: ignore[arg-type]
            response=response if isinstance(response, Response) else None,
            request_id=request.scope.get("state", {}).get("request_id", ""),
            principal=principal,
            shop=shop,
            shop_problem=problem,
        )

    async def on_ws_connect(self, context: AgoraContext) -> UnsetType | dict[str, object] | None:
        """Subscriptions authenticate in the init payload: ``authorization`` ("Bearer ...")
        and ``shop`` (a handle), as a browser cannot set headers on a websocket. A token that
        is present but invalid closes the connection (4403); none means anonymous."""
        params = context.connection_params or {}
        services = context.services
        handle = params.get("shop")
        credential = params.get("authorization") or params.get("Authorization")
        if credential:
            scheme, _, token = str(credential).partition(" ")
            try:
                if scheme.lower() != "bearer" or not token.strip():
                    raise InvalidTokenError("expected a Bearer token")
                claims = await services.tokens.verify_active(token.strip())
            except InvalidTokenError as error:
                raise ConnectionRejectionError({"code": "UNAUTHENTICATED"}) from error
            context.principal = claims.principal()
        if isinstance(handle, str) or context.principal is not None:
            context.shop, context.shop_problem = await scoped_shop(
                services,
                handle if isinstance(handle, str) else None,
                context.principal.shop_id if context.principal else None,
            )
        return UNSET

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


async def scoped_shop(
    services: Services, handle: str | None, token_shop: int | None
) -> tuple[Shop | None, str | None]:
    """The request's shop. A token issued for one shop (an install or sandbox token) reaches
    that shop only: without a header it is used, and a header naming another is refused."""
    if token_shop is None:
        return await services.shops.resolve(handle)
    own = await services.shops.by_id(token_shop)
    if own is None or (handle and handle != own.handle):
        return None, OTHER_SHOP_PROBLEM
    return own, None


def _js(text: str) -> bytes:
    return orjson.dumps(text)


def _content_type(response_format: str | None) -> str:
    if response_format == ResponseFormat.XML:
        return f"{ResponseFormat.XML}; charset=utf-8"
    return str(response_format)


def _code_of(error: HTTPException) -> str:
    if isinstance(error, DocumentRefusal):
        return error.code.value
    return _CODES_BY_STATUS.get(error.status_code, ApiErrorCode.BAD_REQUEST.value)


def _refusal(response_format: ResponseFormat, error: HTTPException) -> Response:
    """A request strawberry refused (406, malformed body, unknown method) as a GraphQL error
    with a code, in the client's format."""
    body: dict[str, Any] = {
        "errors": [
            {
                "message": error.reason,
                "extensions": {"code": _code_of(error)},
            }
        ]
    }
    encoded = to_xml(body) if response_format is ResponseFormat.XML else orjson.dumps(body)
    return Response(
        encoded,
        status_code=error.status_code,
        headers={"vary": "Accept", "content-type": _content_type(response_format)},
    )
