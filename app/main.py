"""The composition root: builds every collaborator once and wires them together.

Nothing else in Agora reaches for global state; what a module needs, it is handed here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route, WebSocketRoute
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from app.broadcast import Broadcast, LocalBroadcast, RedisBroadcast
from app.compose_domains import installation_activator, marketplace_services, trade_services
from app.compose_events import event_services
from app.config import Settings
from app.db import Database
from app.events.lag import OutboxLag
from app.events.services import EventServices
from app.identity.passwords import PasswordHashing
from app.jobs import run_jobs_once
from app.limits.buckets import (
    BucketStore,
    FallbackBuckets,
    MemoryBuckets,
    RedisBuckets,
)
from app.limits.overrides import OverridingPolicy
from app.limits.shedding import InFlight
from app.logistics.carriers import carrier_by_code, webhook_secrets
from app.logs import configure_logging
from app.loops import Loop
from app.observability.requests import instrument_engine
from app.observability.tracing import configure_tracing
from app.production import check_production
from app.security.blind_index import IndexedFieldCipher
from app.security.clients import ClientStatus, client_by_id, signing_secrets
from app.security.encryption import FieldCipher, load_or_create_keyring
from app.security.keys import load_or_create_secret, load_or_create_signing_keys
from app.security.oauth.consent_session import SessionCodec
from app.security.oauth.server import OAuthConfig
from app.security.oauth.service import OAuthService
from app.security.rbac import Authorizer
from app.security.signing import SignatureVerifier, Signer, SignerLookup
from app.security.tokens import TokenDenylist, TokenService
from app.sharedstate import MemoryState, RedisState, SharedState
from app.signals import ChangeSignal
from app.trade.services import TradeServices
from app.web.carrier_webhook import carrier_webhook
from app.web.consent import ConsentPage
from app.web.exports import statement_csv
from app.web.limits import RateLimits
from app.web.middleware import Authentication, BodyLimit, RequestContext
from app.web.oauth import oauth_routes
from app.web.observability import MetricsEndpoint, RequestObservation
from app.web.routes import healthz, jwks, readyz
from app.web.stripe_webhook import stripe_webhook
from marketplace.extensions import Extensions, build_extensions
from marketplace.services import MarketplaceServices
from marketplace.stripe_collection import StripeCollector
from marketplace.transfers import StripeTransfers
from schema import build_schema
from schema.context import Services
from schema.pagination import CursorCodec
from schema.shops import ShopDirectory
from schema.trade.ids import CartIds
from schema.view import AgoraGraphQL

__all__ = ["create_app"]

GRAPHQL_PATH = "/graphql"


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _buckets(settings: Settings, redis: Redis | None) -> BucketStore:
    if redis is None:
        return MemoryBuckets()
    return FallbackBuckets(
        RedisBuckets(redis, settings.redis_prefix),
        MemoryBuckets(),
        workers=settings.workers,
        fail_open=settings.rate_limit_fail_open,
    )


def _observed(db: Database, settings: Settings) -> Database:
    """The database, counting SQL statements per request and connections in use; and
    tracing set up when it is on."""
    instrument_engine(db.engine)
    if settings.otel_enabled:
        configure_tracing()
    return db


def _client_signers(db: Database, cipher: FieldCipher) -> SignerLookup:
    """Open-API signatures are made with a registered client's signing secrets."""

    async def signer_of(key: str) -> Signer | None:
        async with db.reader() as session:
            client = await client_by_id(session, key)
        if client is None:
            return None
        return Signer(
            secrets=tuple(signing_secrets(client, cipher)),
            suspended=client.status is ClientStatus.SUSPENDED,
            scopes=frozenset(client.scopes),
        )

    return signer_of


def _carrier_signers(db: Database, cipher: FieldCipher) -> SignerLookup:
    """Carrier webhooks are signed with the carrier's webhook secret; key = carrier code."""
    sealed = IndexedFieldCipher.of(cipher)

    async def signer_of(key: str) -> Signer | None:
        async with db.reader() as session:
            carrier = await carrier_by_code(session, key)
        if carrier is None:
            return None
        return Signer(secrets=webhook_secrets(carrier, sealed), suspended=not carrier.active)

    return signer_of


def _background_loops(
    settings: Settings, trade: TradeServices, events: EventServices
) -> list[Loop]:
    """The jobs and the outbox dispatcher (each unless its interval is 0: tests drive them by
    hand). They stop between rounds on shutdown (``Loop``), so SIGTERM never cuts one short."""

    async def jobs_round() -> bool:
        await run_jobs_once(trade)
        return False  # the jobs run on a fixed interval

    async def dispatch_round() -> bool:
        return not (await events.dispatcher.run_once()).idle

    loops = []
    if settings.jobs_interval_seconds > 0:
        loops.append(Loop("jobs", jobs_round, settings.jobs_interval_seconds))
    if settings.dispatcher_interval_seconds > 0:
        loops.append(Loop("dispatcher", dispatch_round, settings.dispatcher_interval_seconds))
    return loops


def _closers(
    trade: TradeServices,
    events: EventServices,
    extensions: Extensions,
    marketplace: MarketplaceServices,
) -> list[Callable[[], Awaitable[None]]]:
    """What holds connections to the outside, to be closed when the app stops."""
    closers = [trade.providers.close, events.close, extensions.close]
    if isinstance(marketplace.collector, StripeCollector):
        closers.append(marketplace.collector.close)
    if isinstance(marketplace.transfers, StripeTransfers):
        closers.append(marketplace.transfers.close)
    return closers


def create_app(
    settings: Settings | None = None, *, clock: Callable[[], datetime] = _utcnow
) -> Starlette:
    settings = settings or Settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    db = _observed(Database.connect(settings), settings)
    signing_keys = load_or_create_signing_keys(
        settings.resolved_jwt_private_key_path, create=settings.is_dev
    )
    tokens = TokenService(
        signing_keys,
        issuer=settings.public_url,
        audience=settings.public_url,
        ttl_seconds=settings.access_token_ttl_seconds,
        clock=lambda: clock().timestamp(),
    )
    passwords = PasswordHashing(
        time_cost=settings.password_hash_time_cost, memory_kib=settings.password_hash_memory_kib
    )
    cipher = load_or_create_keyring(settings.resolved_data_keyring_path, create=settings.is_dev)
    secret = load_or_create_secret(settings.resolved_secret_key_path, create=settings.is_dev)
    # Prod refuses dev keys, weak secrets and SQLite under several workers (app/production.py).
    check_production(settings)
    cursors = CursorCodec(secret)
    extensions = build_extensions(settings, db, cipher, clock)
    trade = trade_services(settings, db, cipher, clock, extensions.caller)
    graphql = AgoraGraphQL(
        build_schema(settings),
        graphql_ide="graphiql" if settings.is_dev else None,
        allow_queries_via_get=False,
        multipart_uploads_enabled=False,
        # Subscriptions speak graphql-transport-ws only; the legacy graphql-ws is off.
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
    )

    redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
    shared: SharedState = (
        RedisState(redis, settings.redis_prefix) if redis is not None else MemoryState()
    )
    tokens.attach_denylist(TokenDenylist(shared, clock=lambda: clock().timestamp()))
    oauth = OAuthService(
        db,
        OAuthConfig(tokens, refresh_ttl_seconds=settings.refresh_token_ttl_seconds),
        clock,
        on_install=installation_activator(clock),
    )
    consent = ConsentPage(
        oauth,
        SessionCodec(
            load_or_create_secret(settings.resolved_secret_key_path, create=settings.is_dev),
            clock=lambda: clock().timestamp(),
        ),
        settings.public_url,
    )
    buckets = _buckets(settings, redis)
    signatures = SignatureVerifier(
        _client_signers(db, cipher), shared, clock=lambda: clock().timestamp()
    )
    carrier_signatures = SignatureVerifier(
        _carrier_signers(db, cipher), shared, clock=lambda: clock().timestamp()
    )
    broadcast: Broadcast = (
        RedisBroadcast(redis, settings.redis_prefix) if redis is not None else LocalBroadcast()
    )
    marketplace, quotas, tier_changes = marketplace_services(
        settings, db, cipher, tokens, clock, redis, extensions
    )
    events = event_services(settings, db, cipher, clock)
    policy = OverridingPolicy(quotas, db.reader, clock)
    override_changes = ChangeSignal(
        policy.reload, redis, channel=f"{settings.redis_prefix}limits:overrides-changed"
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.redis = redis
        app.state.carrier_signatures = carrier_signatures
        authorizer = await Authorizer.load(db.engine)
        app.state.policy_changes = ChangeSignal(
            authorizer.reload, redis, channel=f"{settings.redis_prefix}rbac:policy-changed"
        )
        await policy.reload()
        app.state.rate_policy = policy
        # Not awaited: a Redis that is down must not stop the API from starting.
        listeners = [
            asyncio.create_task(app.state.policy_changes.listen()),
            asyncio.create_task(override_changes.listen()),
            asyncio.create_task(tier_changes.listen()),
        ]
        if isinstance(broadcast, RedisBroadcast):
            listeners.append(asyncio.create_task(broadcast.run()))
        loops = [loop.start() for loop in _background_loops(settings, trade, events)]
        app.state.services = Services(
            settings=settings,
            db=db,
            tokens=tokens,
            authorizer=authorizer,
            passwords=passwords,
            cursors=cursors,
            clock=clock,
            shared=shared,
            cipher=cipher,
            buckets=buckets,
            shops=ShopDirectory(db.reader),
            override_changes=override_changes,
            trade=trade,
            cart_ids=CartIds(secret),
            broadcast=broadcast,
            marketplace=marketplace,
            rate_policy=policy,
            events=events,
            extensions=extensions,
        )
        try:
            yield
        finally:
            # Rounds under way finish first (within the grace period); listeners only wait.
            await asyncio.gather(*(loop.stop(settings.shutdown_grace_seconds) for loop in loops))
            for listener in listeners:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener
            if app.state.redis is not None:
                await app.state.redis.aclose()
            for close in _closers(trade, events, extensions, marketplace):
                await close()
            await db.dispose()

    return Starlette(
        routes=[
            Route(GRAPHQL_PATH, graphql, methods=["GET", "POST"]),
            Route("/sandbox/graphiql", graphql.sandbox_graphiql),
            WebSocketRoute(GRAPHQL_PATH, graphql),
            Route("/.well-known/jwks.json", jwks),
            *oauth_routes(oauth, consent, settings.public_url),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", MetricsEndpoint([OutboxLag(db, clock)]).respond),
            Route("/webhooks/stripe", stripe_webhook, methods=["POST"]),
            Route("/exports/statements/{statement_id:int}.csv", statement_csv),
            Route("/webhooks/carriers/{code}", carrier_webhook, methods=["POST"]),
        ],
        middleware=[
            Middleware(RequestContext),
            Middleware(RequestObservation, slow_operation_ms=settings.slow_operation_ms),
            Middleware(
                CORSMiddleware,
                allow_origins=settings.cors_origins,
                allow_methods=["GET", "POST", "OPTIONS"],
                allow_headers=["authorization", "content-type", "x-agora-shop", "x-request-id"],
                expose_headers=["x-request-id"],
                max_age=600,
            ),
            Middleware(BodyLimit, max_bytes=settings.max_body_bytes),
            Middleware(Authentication, tokens=tokens, signatures=signatures),
            Middleware(
                RateLimits,
                buckets=buckets,
                policy=policy,
                in_flight=InFlight(settings.max_in_flight),
                clock=clock,
            ),
        ],
        lifespan=lifespan,
    )
