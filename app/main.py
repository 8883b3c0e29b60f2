"""The composition root: builds every collaborator once and wires them together.

Nothing else in Agora reaches for global state; what a module needs, it is handed here.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route

from app.config import Settings
from app.db import Database
from app.identity.passwords import PasswordHashing
from app.logs import configure_logging
from app.security.encryption import load_or_create_keyring
from app.security.keys import load_or_create_secret, load_or_create_signing_key
from app.security.rbac import Authorizer
from app.security.tokens import TokenService
from app.sharedstate import MemoryState, RedisState, SharedState
from app.web.middleware import AcceptGuard, Authentication, BodyLimit, RequestContext
from app.web.routes import healthz, jwks, readyz
from schema import build_schema
from schema.context import Services
from schema.pagination import CursorCodec
from schema.view import AgoraGraphQL

__all__ = ["create_app"]

GRAPHQL_PATH = "/graphql"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = _utcnow
) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    db = Database.connect(settings)
    signing_key = load_or_create_signing_key(
        settings.resolved_jwt_private_key_path, create=settings.is_dev
    )
    tokens = TokenService(
        signing_key,
        issuer=settings.public_url,
        audience=settings.public_url,
        ttl_seconds=settings.access_token_ttl_seconds,
        clock=lambda: clock().timestamp(),
    )
    passwords = PasswordHashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    cipher = load_or_create_keyring(settings.resolved_data_keyring_path, create=settings.is_dev)
    cursors = CursorCodec(
        load_or_create_secret(settings.resolved_secret_key_path, create=settings.is_dev)
    )
    graphql = AgoraGraphQL(
        build_schema(settings),
        graphql_ide="graphiql" if settings.is_dev else None,
        allow_queries_via_get=False,
        multipart_uploads_enabled=False,
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        shared: SharedState = (
            RedisState(redis, settings.redis_prefix) if redis is not None else MemoryState()
        )
        app.state.redis = redis
        app.state.services = Services(
            settings=settings,
            db=db,
            tokens=tokens,
            authorizer=await Authorizer.load(db.engine),
            passwords=passwords,
            cursors=cursors,
            clock=clock,
            shared=shared,
            cipher=cipher,
        )
        try:
            yield
        finally:
            if app.state.redis is not None:
                await app.state.redis.aclose()
            await db.dispose()

    return Starlette(
        routes=[
            Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
            Route("/.well-known/jwks.json", jwks),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
        ],
        middleware=[
            Middleware(RequestContext),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-agora-shop", "x-request-id"],
                expose_headers=["x-request-id"],
                max_age=600,
            ),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(AcceptGuard, path=GRAPHQL_PATH),
            Middleware(Authentication, tokens=tokens),
        ],
        lifespan=lifespan,
    )
