"""The OAuth2 endpoints over Starlette: token, revocation, introspection, metadata, and the
authorization (consent) page from ``app/web/consent.py``.

These handlers only translate: a Starlette request becomes an ``OAuthCall`` (query and form as
pairs, the Authorization header), and an ``OAuthResponse`` becomes a JSON response or a
redirect. The authorization server itself is ``app.security.oauth``. URIs given to authlib
are built on the configured public URL, because TLS is terminated in front of Agora and the
request's own scheme says nothing about the client's transport.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from app.security.oauth.metadata import server_metadata
from app.security.oauth.requests import OAuthCall
from app.security.oauth.server import OAuthResponse
from app.security.oauth.service import OAuthService

if TYPE_CHECKING:
    from app.web.consent import ConsentPage

__all__ = ["oauth_call", "oauth_routes", "read_form", "to_response"]

_MAX_FIELDS = 50
_NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


async def read_form(request: Request) -> list[tuple[str, str]]:
    """An ``application/x-www-form-urlencoded`` body as pairs, the only encoding OAuth and the
    consent page use (so no multipart parser is needed). Anything else reads as empty, and
    authlib then answers ``invalid_request`` for the missing parameters."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if request.method != "POST" or content_type != "application/x-www-form-urlencoded":
        return []
    try:
        text = (await request.body()).decode("utf-8")
        return parse_qsl(text, keep_blank_values=True, max_num_fields=_MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return []


async def oauth_call(request: Request, public_url: str, *, with_form: bool = True) -> OAuthCall:
    query = request.url.query
    uri = f"{public_url.rstrip('/')}{request.url.path}" + (f"?{query}" if query else "")
    form = await read_form(request) if with_form else []
    return OAuthCall(
        method=request.method,
        uri=uri,
        query=list(request.query_params.multi_items()),
        form=form,
        authorization=request.headers.get("authorization"),
    )


def to_response(result: OAuthResponse) -> Response:
    if result.location is not None:
        return RedirectResponse(result.location, status_code=302, headers=_NO_STORE)
    headers = {k.lower(): v for k, v in result.headers if k.lower() != "content-type"}
    headers.update(_NO_STORE)
    body = result.body if isinstance(result.body, dict) else {}
    return JSONResponse(body, status_code=result.status, headers=headers)


Handler = Callable[[Request], Awaitable[Response]]


def _endpoint(public_url: str, run: Callable[[OAuthCall], Awaitable[OAuthResponse]]) -> Handler:
    async def handle(request: Request) -> Response:
        return to_response(await run(await oauth_call(request, public_url)))

    return handle


def oauth_routes(service: OAuthService, consent: ConsentPage, public_url: str) -> list[Route]:
    metadata = server_metadata(public_url)

    async def well_known(_: Request) -> Response:
        return JSONResponse(metadata, headers={"cache-control": "public, max-age=300"})

    return [
        Route("/oauth/token", _endpoint(public_url, service.token), methods=["POST"]),
        Route("/oauth/revoke", _endpoint(public_url, service.revoke), methods=["POST"]),
        Route("/oauth/introspect", _endpoint(public_url, service.introspect), methods=["POST"]),
        Route("/oauth/authorize", consent.show, methods=["GET"]),
        Route("/oauth/authorize", consent.submit, methods=["POST"]),
        Route("/.well-known/oauth-authorization-server", well_known),
    ]
