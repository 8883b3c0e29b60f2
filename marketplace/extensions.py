"""Calling a strategic app's extension: finding the endpoint, calling it, surviving it.

An extension point (``shipping.rates``, ``goods.recommendations``) is called in the middle of
a shopper's request, so nothing an app does may fail or stall that request. ``ExtensionCaller``
returns an answer or ``None``, and never raises because of the app:

**Which endpoint.** For a shop and a point: the shop's *active* installation of an *active*
app whose partner is *active*, whose partner's tier policy allows the point's core scope *now*
(read from ``tier_policies`` at lookup time, so a downgraded partner stops being called), whose
installation was granted that scope, and whose assigned version (the canary rollout's choice
for the installation's bucket, ``version_for_bucket``) declares the point in its manifest. An
app without a webhook secret cannot sign, so it is not called. When several installations
qualify, the **oldest installation** (lowest id) wins: stable, and a newly installed app
cannot silently take over a point another app already serves.

The lookup is one SQL statement for all points of a shop, cached per shop for
``lookup_ttl_seconds`` (5 s by default, and for shops without any extension too, so the
common case costs no statement at all). ``invalidate()`` drops the cache; wire it to the
tier-change signal so a downgrade takes effect at once. Installs, uninstalls and rollouts take
effect within the TTL.

**The call** is a POST of a JSON body signed as DESIGN.md says (key ``agora``, the app's
webhook secret, a random 128-bit nonce), with ``X-Agora-Extension-Point``, through
``OutboundClient``: the URL is checked against ``OutboundPolicy`` on its resolved address at
call time, the whole call fits one deadline (``extension_timeout_ms``, 800 ms), redirects are
not followed, and an answer over the client's byte limit is cut off. A per-endpoint circuit
breaker (``marketplace/extension_breaker.py``, in process: see there why) stops calling an
endpoint after ``extension_breaker_failures`` failures in a row for
``extension_breaker_cooldown_seconds``, then lets one probe through.

**Failures** (timeout, connection, http_status, too_large, refused_url, malformed,
circuit_open) are written to ``extension_failures`` after the call, in a short transaction of
their own, best effort: a failure to record is logged, never raised. ``circuit_open`` is
recorded once per open period, not once per refused call, so an open circuit does not turn
every shopper request into a database write. Every failure but ``circuit_open`` counts towards
the breaker, malformed answers included: an endpoint that answers nonsense is as broken as one
that does not answer.

**Validation** is the point's business: ``call`` takes a ``parse`` function that turns the
decoded JSON into a typed value or raises ``MalformedAnswer`` (or a pydantic
``ValidationError``); the whole answer is then ignored and recorded as ``malformed`` with the
reason. Checks that need data outside the marketplace (are these products of this shop?) run
in the caller's layer, which calls ``reject`` to record and count the failure the same way.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

import orjson
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db import Database
from app.security.encryption import FieldCipher
from app.security.outbound import OutboundPolicy
from app.security.outbound_client import CallFailed, OutboundClient, OutboundResponse
from marketplace.app_models import App, AppStatus, AppVersion, Installation, InstallationStatus
from marketplace.extension_breaker import Admission, CircuitBreakers
from marketplace.extension_models import ExtensionFailure
from marketplace.models import Partner, PartnerStatus, TierPolicy
from marketplace.versions import EXTENSION_SCOPES, version_for_bucket
from marketplace.webhook_secrets import open_webhook_secret

__all__ = [
    "SIGNING_KEY",
    "Answer",
    "Endpoint",
    "ExtensionCaller",
    "Extensions",
    "MalformedAnswer",
    "build_extensions",
    "describe_validation_error",
]

log = logging.getLogger("agora.marketplace.extensions")

T = TypeVar("T")
SIGNING_KEY = "agora"
POINT_HEADER = "X-Agora-Extension-Point"
MAX_ANSWER_BYTES = 64 * 1024
_MAX_DETAIL = 1000
_MAX_CACHED_SHOPS = 10_000


class MalformedAnswer(Exception):
    """The answer is not what the point's schema allows; ``reason`` is recorded for the app."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Endpoint:
    app_id: int
    installation_id: int
    version_id: int
    url: str
    sealed_secret: str

    @property
    def circuit_key(self) -> str:
        return f"{self.app_id} {self.url}"


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A parsed answer, with what ``reject`` needs to record it as malformed after all."""

    value: T
    shop_id: int
    point: str
    endpoint: Endpoint


def describe_validation_error(error: ValidationError) -> str:
    """The first few problems of a pydantic error, as ``rates.3.amount: reason``."""
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'answer'}: {item['msg']}"
        for item in error.errors(include_url=False, include_input=False)[:3]
    ]
    more = error.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _choose(
    rows: Sequence[Any],
) -> dict[str, Endpoint]:
    """Each point's endpoint among the shop's qualifying installations (oldest first)."""
    versions: dict[int, list[AppVersion]] = defaultdict(list)
    installations: dict[int, tuple[Installation, str, frozenset[str]]] = {}
    for installation, sealed, allowed, version in rows:
        versions[installation.id].append(version)
        installations[installation.id] = (installation, sealed, frozenset(allowed or ()))
    chosen: dict[str, Endpoint] = {}
    for installation_id in sorted(installations):
        installation, sealed, allowed = installations[installation_id]
        version = version_for_bucket(versions[installation_id], installation.bucket)
        declared = (version.manifest or {}).get("extensions") if version is not None else None
        if version is None or not isinstance(declared, dict):
            continue
        granted = set(installation.granted_scopes or ())
        for point, scope in EXTENSION_SCOPES.items():
            url = declared.get(point)
            if point in chosen or not isinstance(url, str) or not url:
                continue
            if scope in allowed and scope in granted:
                chosen[point] = Endpoint(
                    installation.app_id, installation.id, version.id, url, sealed
                )
    return chosen


async def _endpoints_of_shop(session: AsyncSession, shop_id: int) -> dict[str, Endpoint]:
    """One statement: every active installation in the shop with its app's secret, its
    partner's allowed scopes now, and the versions whose rollout covers its bucket."""
    rows = await session.execute(
        select(Installation, App.webhook_secret, TierPolicy.allowed_scopes, AppVersion)
        .join(App, App.id == Installation.app_id)
        .join(Partner, Partner.id == App.partner_id)
        .join(TierPolicy, TierPolicy.tier == Partner.tier)
        .join(AppVersion, AppVersion.app_id == Installation.app_id)
        .where(
            Installation.shop_id == shop_id,
            Installation.status == InstallationStatus.ACTIVE,
            App.status == AppStatus.ACTIVE,
            App.webhook_secret.is_not(None),
            Partner.status == PartnerStatus.ACTIVE,
            AppVersion.rollout_percent > Installation.bucket,
        )
    )
    return _choose(rows.all())


_Failure = tuple[str, str]


@dataclass(frozen=True, slots=True)
class _Malformed:
    reason: str


def _parsed(body: bytes, parse: Callable[[Any], T]) -> T | _Malformed:
    try:
        decoded = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _Malformed("the answer is not JSON")
    try:
        return parse(decoded)
    except MalformedAnswer as bad:
        return _Malformed(bad.reason)
    except ValidationError as bad:
        return _Malformed(describe_validation_error(bad))


class ExtensionCaller:
    def __init__(
        self,
        db: Database,
        cipher: FieldCipher,
        client: OutboundClient,
        *,
        timeout_seconds: float,
        breakers: CircuitBreakers,
        clock: Callable[[], datetime],
        lookup_ttl_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._db = db
        self._cipher = cipher
        self._client = client
        self.timeout_seconds = timeout_seconds
        self.breakers = breakers
        self._clock = clock
        self._ttl = lookup_ttl_seconds
        self._monotonic = monotonic
        self._cache: dict[int, tuple[float, dict[str, Endpoint]]] = {}
        # Bumped by invalidate(), so a lookup that began before it does not cache old news.
        self._generation = 0

    async def invalidate(self) -> None:
        """Forget every shop's endpoints (tiers changed): the next call looks them up again."""
        self._cache = {}
        self._generation += 1

    async def endpoint(self, shop_id: int, point: str) -> Endpoint | None:
        now = self._monotonic()
        cached = self._cache.get(shop_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1].get(point)
        generation = self._generation
        async with self._db.reader() as session:
            found = await _endpoints_of_shop(session, shop_id)
        if self._ttl > 0 and generation == self._generation:
            if len(self._cache) >= _MAX_CACHED_SHOPS:
                self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self._ttl}
                if len(self._cache) >= _MAX_CACHED_SHOPS:
                    self._cache = {}
            self._cache[shop_id] = (now, found)
        return found.get(point)

    async def call(
        self,
        shop_id: int,
        point: str,
        payload: Mapping[str, Any],
        parse: Callable[[Any], T],
    ) -> Answer[T] | None:
        """The parsed answer of the shop's extension for ``point``; None when there is no
        extension or it gave no usable answer (recorded)."""
        try:
            endpoint = await self.endpoint(shop_id, point)
        except Exception:
            log.exception("extension lookup failed", extra={"shop_id": shop_id, "point": point})
            return None
        if endpoint is None:
            return None
        key = endpoint.circuit_key
        admission = self.breakers.admit(key)
        if admission in (Admission.REFUSED, Admission.REFUSED_FIRST):
            if admission is Admission.REFUSED_FIRST:
                cooldown = self.breakers.cooldown.total_seconds()
                detail = (
                    f"{self.breakers.failures} failures in a row; not called for {cooldown:g} s"
                )
                await self._record(endpoint, shop_id, point, "circuit_open", detail)
            return None
        try:
            outcome = await self._attempt(endpoint, shop_id, point, payload, parse)
        except BaseException:
            self.breakers.abandoned(key)  # cancelled mid-call: free the probe slot
            raise
        if isinstance(outcome, Answer):
            self.breakers.succeeded(key)
            return outcome
        kind, detail = outcome
        self.breakers.failed(key)
        await self._record(endpoint, shop_id, point, kind, detail)
        return None

    async def reject(self, answer: Answer[Any], reason: str) -> None:
        """The answer parsed but failed a check made outside the marketplace: record it as
        malformed and count it against the endpoint's breaker."""
        self.breakers.failed(answer.endpoint.circuit_key)
        await self._record(answer.endpoint, answer.shop_id, answer.point, "malformed", reason)

    async def _attempt(
        self,
        endpoint: Endpoint,
        shop_id: int,
        point: str,
        payload: Mapping[str, Any],
        parse: Callable[[Any], T],
    ) -> Answer[T] | _Failure:
        """The parsed answer, or the failure as (kind, detail)."""
        response = await self._post(endpoint, point, payload)
        if isinstance(response, tuple):
            return response
        if not response.ok:
            return "http_status", f"HTTP {response.status_code}"
        value = _parsed(response.body, parse)
        if isinstance(value, _Malformed):
            return "malformed", value.reason
        return Answer(value, shop_id, point, endpoint)

    async def _post(
        self, endpoint: Endpoint, point: str, payload: Mapping[str, Any]
    ) -> OutboundResponse | _Failure:
        try:
            secret = open_webhook_secret(self._cipher, endpoint.sealed_secret)
            body = orjson.dumps(payload)
        except Exception as exc:  # our side: a key that rotated away, an unencodable payload
            log.exception("extension call could not be prepared")
            return "connection", f"Agora could not prepare the call: {type(exc).__name__}"
        try:
            return await self._client.post_signed(
                endpoint.url,
                body,
                key=SIGNING_KEY,
                secret=secret,
                nonce=secrets.token_hex(16),
                headers={POINT_HEADER: point},
                timeout_seconds=self.timeout_seconds,
            )
        except CallFailed as failed:
            return failed.kind, failed.detail

    async def _record(
        self, endpoint: Endpoint, shop_id: int, point: str, kind: str, detail: str
    ) -> None:
        log.warning(
            "extension failed",
            extra={"app_id": endpoint.app_id, "shop_id": shop_id, "point": point, "kind": kind},
        )
        try:
            async with self._db.writer() as session, session.begin():
                session.add(
                    ExtensionFailure(
                        app_id=endpoint.app_id,
                        shop_id=shop_id,
                        point=point,
                        kind=kind,
                        detail=detail[:_MAX_DETAIL],
                        occurred_at=self._clock(),
                    )
                )
        except Exception:
            log.exception(
                "could not record an extension failure",
                extra={"app_id": endpoint.app_id, "shop_id": shop_id, "kind": kind},
            )


@dataclass(frozen=True)
class Extensions:
    """The extension caller and the HTTP client it owns (closed with the app)."""

    caller: ExtensionCaller
    client: OutboundClient

    async def invalidate(self) -> None:
        await self.caller.invalidate()

    async def close(self) -> None:
        await self.client.close()


def build_extensions(
    settings: Settings,
    db: Database,
    cipher: FieldCipher,
    clock: Callable[[], datetime],
    *,
    outbound: OutboundPolicy | None = None,
    client: OutboundClient | None = None,
    timeout_seconds: float | None = None,
    lookup_ttl_seconds: float = 5.0,
) -> Extensions:
    """The caller with the settings' timeout and breaker. It gets an HTTP client of its own
    (unless given one), so a webhook backlog can never take the connections a checkout needs."""
    outbound = outbound or OutboundPolicy.for_environment(settings.environment)
    client = client or OutboundClient(outbound, max_body_bytes=MAX_ANSWER_BYTES)
    caller = ExtensionCaller(
        db,
        cipher,
        client,
        timeout_seconds=timeout_seconds
        if timeout_seconds is not None
        else settings.extension_timeout_ms / 1000,
        breakers=CircuitBreakers(
            failures=settings.extension_breaker_failures,
            cooldown=timedelta(seconds=settings.extension_breaker_cooldown_seconds),
            clock=clock,
        ),
        clock=clock,
        lookup_ttl_seconds=lookup_ttl_seconds,
    )
    return Extensions(caller=caller, client=client)
