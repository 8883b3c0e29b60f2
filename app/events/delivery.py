"""Delivering webhooks: claim due deliveries, POST them signed, record what happened.

The three steps run in two short transactions with the network in between, so no database
lock is held while a partner's server thinks:

1. **Claim** due deliveries (``FOR UPDATE SKIP LOCKED``), skipping endpoints whose circuit is
   open, and lease them to this dispatcher under a random token.
2. **Attempt** them, one endpoint's deliveries in order and endpoints side by side. An
   endpoint that fails often enough to trip its breaker gets no more in this batch.
3. **Record** every attempt, and move each delivery on (delivered, retry later, or dead), but
   only where the lease token still matches: a dispatcher that was too slow cannot overwrite
   the outcome of the one that took over.

A dispatcher killed after step 2 has delivered without recording; once its lease runs out the
delivery is attempted again, with the same event id so that the receiver can tell.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.events.circuits import Gate, blocked_endpoints, open_gates, record_outcomes
from app.events.models import DeliveryAttempt, DeliveryStatus, OutboxEvent, WebhookDelivery
from app.events.policy import DeliveryPolicy
from app.events.ports import PayloadRenderer, SecretLookup
from app.security.outbound_client import CallFailed, OutboundClient

__all__ = ["Attempt", "Batch", "WebhookSender", "claim_batch", "delivery_outcome", "record_batch"]

SIGNING_KEY = "agora"
_MAX_ERROR = 500


@dataclass(frozen=True, slots=True)
class Batch:
    token: str
    deliveries: list[WebhookDelivery]
    events: dict[int, OutboxEvent]
    gates: dict[str, Gate]


@dataclass(frozen=True, slots=True)
class Attempt:
    """What one try of a delivery came to; ``ok is None`` means it was not tried (released)."""

    delivery: WebhookDelivery
    attempted_at: datetime | None = None
    ok: bool | None = None
    status_code: int | None = None
    latency_ms: int = 0
    error: str = ""
    permanent: bool = False


def _due(now: datetime) -> list[object]:
    return [
        WebhookDelivery.status == DeliveryStatus.PENDING,
        WebhookDelivery.next_attempt_at <= now,
        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until <= now),
        WebhookDelivery.endpoint_key.not_in(blocked_endpoints(now)),
    ]


async def claim_batch(db: Database, now: datetime, policy: DeliveryPolicy) -> Batch | None:
    token = secrets.token_hex(16)
    async with db.writer() as session, session.begin():
        candidates = list(
            await session.scalars(
                select(WebhookDelivery)
                .where(*_due(now))
                .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
                .limit(policy.batch_size)
                .with_for_update(skip_locked=True, of=WebhookDelivery)
            )
        )
        if not candidates:
            return None
        gates = await open_gates(session, {d.endpoint_key for d in candidates}, now, policy)
        taken: list[WebhookDelivery] = []
        per_endpoint: Counter[str] = Counter()
        for delivery in candidates:
            allowance = gates[delivery.endpoint_key].allowance
            if allowance is not None and per_endpoint[delivery.endpoint_key] >= allowance:
                continue
            per_endpoint[delivery.endpoint_key] += 1
            taken.append(delivery)
        if not taken:
            return None
        lease_until = now + policy.lease
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id.in_([d.id for d in taken]))
            .values(lease_until=lease_until, lease_token=token)
            .execution_options(synchronize_session=False)
        )
        events = await session.scalars(
            select(OutboxEvent).where(OutboxEvent.seq.in_({d.event_seq for d in taken}))
        )
        return Batch(token, taken, {e.seq: e for e in events}, gates)


class WebhookSender:
    """Attempts a claimed batch over HTTP."""

    def __init__(
        self,
        client: OutboundClient,
        secrets_of: SecretLookup,
        render: PayloadRenderer,
        clock: Callable[[], datetime],
        policy: DeliveryPolicy,
    ) -> None:
        self._client = client
        self._secrets_of = secrets_of
        self._render = render
        self._clock = clock
        self._policy = policy

    async def attempt_batch(self, batch: Batch) -> list[Attempt]:
        app_secrets = await self._secrets_of(sorted({d.app_id for d in batch.deliveries}))
        by_endpoint: dict[str, list[WebhookDelivery]] = defaultdict(list)
        for delivery in batch.deliveries:
            by_endpoint[delivery.endpoint_key].append(delivery)
        limit = asyncio.Semaphore(self._policy.concurrency)

        async def endpoint(key: str, deliveries: list[WebhookDelivery]) -> list[Attempt]:
            async with limit:
                gate = batch.gates[key]
                # A half-open circuit's probe goes whatever the count that opened it.
                failures = 0 if gate.probe else gate.failures
                results = []
                for delivery in deliveries:
                    if failures >= self._policy.breaker_failures:
                        results.append(Attempt(delivery))  # the breaker will hold the rest
                        continue
                    attempt = await self._attempt(
                        delivery, batch.events[delivery.event_seq], app_secrets
                    )
                    failures = 0 if attempt.ok else failures + 1
                    results.append(attempt)
                return results

        grouped = await asyncio.gather(*(endpoint(k, ds) for k, ds in by_endpoint.items()))
        return [attempt for group in grouped for attempt in group]

    async def _attempt(
        self, delivery: WebhookDelivery, event: OutboxEvent, app_secrets: Mapping[int, bytes]
    ) -> Attempt:
        at = self._clock()
        secret = app_secrets.get(delivery.app_id)
        if secret is None:
            return Attempt(
                delivery, at, False, error="the app has no webhook secret", permanent=True
            )
        body = json.dumps(
            self._render(event, delivery.payload_version), separators=(",", ":")
        ).encode()
        headers = {
            "X-Agora-Topic": event.topic,
            "X-Agora-Event-Id": event.id,
            "X-Agora-Payload-Version": str(delivery.payload_version),
            "X-Agora-Attempt": str(delivery.attempt_count + 1),
        }
        try:
            response = await self._client.post_signed(
                delivery.url,
                body,
                key=SIGNING_KEY,
                secret=secret,
                nonce=event.id,
                headers=headers,
                timeout_seconds=self._policy.timeout_seconds,
            )
        except CallFailed as failed:
            return Attempt(
                delivery,
                at,
                False,
                latency_ms=failed.latency_ms,
                error=f"{failed.kind}: {failed.detail}"[:_MAX_ERROR],
                permanent=failed.permanent,
            )
        error = "" if response.ok else f"HTTP {response.status_code}"
        return Attempt(delivery, at, response.ok, response.status_code, response.latency_ms, error)


def _next_state(attempt: Attempt, now: datetime, policy: DeliveryPolicy) -> dict[str, object]:
    delivery = attempt.delivery
    state: dict[str, object] = {
        "id": delivery.id,
        "status": DeliveryStatus.PENDING,
        "attempt_count": delivery.attempt_count,
        "next_attempt_at": delivery.next_attempt_at,
        "delivered_at": None,
        "dead_at": None,
        "last_error": delivery.last_error,
        "lease_until": None,
        "lease_token": None,
    }
    if attempt.ok is None:
        return state
    state["attempt_count"] = delivery.attempt_count + 1
    state["last_error"] = attempt.error
    if attempt.ok:
        state.update(status=DeliveryStatus.DELIVERED, delivered_at=now)
        return state
    retry_at = (
        None
        if attempt.permanent
        else policy.next_attempt(delivery.attempt_count + 1, now, delivery.give_up_at)
    )
    if retry_at is None:
        state.update(status=DeliveryStatus.DEAD, dead_at=now)
    else:
        state["next_attempt_at"] = retry_at
    return state


def delivery_outcome(attempt: Attempt, now: datetime, policy: DeliveryPolicy) -> str:
    """What a tried attempt left its delivery as, for the metrics: delivered, retrying (still
    pending) or dead; by the same rule ``record_batch`` writes."""
    status = _next_state(attempt, now, policy)["status"]
    return "retrying" if status is DeliveryStatus.PENDING else str(status)


async def record_batch(
    session: AsyncSession,
    batch: Batch,
    attempts: Sequence[Attempt],
    now: datetime,
    policy: DeliveryPolicy,
) -> None:
    tried = [a for a in attempts if a.ok is not None]
    if tried:
        await session.execute(
            insert(DeliveryAttempt),
            [
                {
                    "delivery_id": a.delivery.id,
                    "attempted_at": a.attempted_at,
                    "status_code": a.status_code,
                    "latency_ms": a.latency_ms,
                    "error": a.error,
                }
                for a in tried
            ],
        )
    # Bulk UPDATE by primary key with the token as extra criteria: a row whose lease another
    # dispatcher took over matches nothing (and SQLAlchemy skips its rowcount check then).
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.lease_token == batch.token)
        .execution_options(synchronize_session=None),
        [_next_state(a, now, policy) for a in attempts],
    )
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for attempt in tried:
        if not attempt.permanent:  # a refused URL says nothing about the endpoint's health
            outcomes[attempt.delivery.endpoint_key].append(bool(attempt.ok))
    await record_outcomes(session, outcomes, now, policy)
