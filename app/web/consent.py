"""``/oauth/authorize``: the page where a shop's business user logs in and approves an app.

GET validates the authorization request (client, exact redirect_uri, scopes, PKCE S256) and
shows a login form, or, once logged in, the consent form. POST carries the page's CSRF token,
which must match the one in the signed session cookie (``HttpOnly``, ``SameSite=Lax``, and
``Secure`` behind an https public URL). Lax rather than Strict: the user arrives here by a
top-level navigation from the app's site, and a Strict cookie would not be sent on it.

The user may approve for a shop in which Casbin grants them ``install:write`` (``business``),
checked again on POST. Pages are never cached and never framed.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from app.identity.models import Shop
from app.identity.service import LockoutPolicy, authenticate
from app.security.blind_index import IndexedFieldCipher
from app.security.oauth.consent_session import BrowserSession, SessionCodec
from app.security.oauth.requests import OAuthCall
from app.security.oauth.server import OAuthResponse
from app.security.oauth.service import ConsentRequest, OAuthService
from app.security.rbac import roles_of
from app.web.consent_pages import consent_page, error_page, login_page
from app.web.oauth import oauth_call, read_form, to_response

__all__ = ["COOKIE", "ConsentPage"]

COOKIE = "agora_consent"
_HEADERS = {
    "cache-control": "no-store",
    "x-frame-options": "DENY",
    "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'",
    "referrer-policy": "no-referrer",
}


class ConsentPage:
    def __init__(self, service: OAuthService, codec: SessionCodec, public_url: str) -> None:
        self._service = service
        self._codec = codec
        self._public_url = public_url
        self._secure = public_url.startswith("https://")

    async def show(self, request: Request) -> Response:
        review = await self._service.review(await oauth_call(request, self._public_url))
        if isinstance(review, OAuthResponse):
            return self._refused(review) if review.location is None else to_response(review)
        session = self._codec.loads(request.cookies.get(COOKIE)) or self._codec.new()
        return await self._render(request, review, session)

    async def submit(self, request: Request) -> Response:
        form = dict(reversed(await read_form(request)))  # the first of repeated fields wins
        session = self._codec.loads(request.cookies.get(COOKIE))
        token = form.get("csrf_token")
        if session is None or not session.csrf_matches(token):
            return self._html(error_page("Session expired", "Reload the page and try again."), 403)
        call = await oauth_call(request, self._public_url, with_form=False)
        review = await self._service.review(call)
        if isinstance(review, OAuthResponse):
            return self._refused(review) if review.location is None else to_response(review)
        if form.get("action") == "login":
            return await self._login(request, review, form)
        if session.user_id is None:
            return await self._render(request, review, session)
        return await self._decide(request, call, session.user_id, form)

    async def _decide(
        self, request: Request, call: OAuthCall, user_id: int, form: dict[str, str]
    ) -> Response:
        if form.get("action") != "approve":
            return to_response(await self._service.decide(call, user_id, None))
        shops = dict(await self._business_shops(request, user_id))
        chosen = form.get("shop", "")
        if not chosen.isdigit() or int(chosen) not in shops:
            return self._html(
                error_page("Not allowed", "You cannot install apps in that shop."), 403
            )
        return to_response(await self._service.decide(call, user_id, int(chosen)))

    async def _login(
        self, request: Request, review: ConsentRequest, form: dict[str, str]
    ) -> Response:
        services = request.app.state.services
        settings = services.settings
        policy = LockoutPolicy(
            settings.login_max_failures, timedelta(seconds=settings.login_lockout_seconds)
        )
        async with services.db.writer() as db_session, db_session.begin():
            user = await authenticate(
                db_session,
                services.passwords,
                IndexedFieldCipher.of(services.cipher),
                email=form.get("email", ""),
                password=form.get("password", ""),
                now=services.clock(),
                policy=policy,
            )
        if user is None:
            fresh = self._codec.new()
            page = login_page(
                self._action(request), fresh.csrf, review.client_name, "Wrong email or password."
            )
            return self._with_cookie(self._html(page, 401), fresh)
        # A new session (and CSRF token) at login: nothing planted before it survives.
        return self._with_cookie(
            RedirectResponse(self._action(request), status_code=303, headers=_HEADERS),
            self._codec.new(user.id),
        )

    async def _render(
        self, request: Request, review: ConsentRequest, session: BrowserSession
    ) -> Response:
        action = self._action(request)
        if session.user_id is None:
            page = login_page(action, session.csrf, review.client_name)
            return self._with_cookie(self._html(page), session)
        shops = await self._business_shops(request, session.user_id)
        if not shops:
            message = "Only a shop's business staff can install apps, and you are none."
            return self._html(error_page("Not allowed", message), 403)
        page = consent_page(action, session.csrf, review.client_name, review.scopes, shops)
        return self._with_cookie(self._html(page), session)

    @staticmethod
    async def _business_shops(request: Request, user_id: int) -> list[tuple[int, str]]:
        """The shops where the user may install apps, by the same enforcer as the API."""
        services = request.app.state.services
        async with services.db.reader() as session:
            held = await roles_of(session, f"user:{user_id}")
            allowed = {
                int(a.domain.split(":", 1)[1])
                for a in held
                if a.domain.startswith("shop:")
                and services.authorizer.allows(held, a.domain, "install", "write")
            }
            rows = await session.execute(
                select(Shop.id, Shop.name).where(Shop.id.in_(allowed)).order_by(Shop.name)
            )
            return [(shop_id, name) for shop_id, name in rows]

    @staticmethod
    def _action(request: Request) -> str:
        query = request.url.query
        return request.url.path + (f"?{query}" if query else "")

    def _refused(self, result: OAuthResponse) -> Response:
        body = result.body if isinstance(result.body, dict) else {}
        message = str(body.get("error_description") or body.get("error") or "Invalid request.")
        return self._html(error_page("Cannot authorize", message), 400)

    @staticmethod
    def _html(page: str, status: int = 200) -> Response:
        return HTMLResponse(page, status_code=status, headers=_HEADERS)

    def _with_cookie(self, response: Response, session: BrowserSession) -> Response:
        response.set_cookie(
            COOKIE,
            self._codec.dumps(session),
            max_age=self._codec.ttl_seconds,
            path="/oauth/authorize",
            httponly=True,
            secure=self._secure,
            samesite="lax",
        )
        return response
