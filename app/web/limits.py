"""Rate limits, concurrency caps and load shedding at the HTTP edge.

Runs after authentication, so the bucket belongs to the principal (the app or user), or to the
client IP for anonymous callers. A throttled request gets 429 with ``Retry-After`` and the IETF
``RateLimit-Policy``/``RateLimit`` headers; a shed one gets 503.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.limits.buckets import BucketStore, Decision
from app.limits.policy import ClientLimits, PolicyLookup, daily_key
from app.limits.shedding import InFlight, Refusal
from app.observability.metrics import record_rejection
from app.web.responses import send_error

__all__ = ["RateLimits", "subject_of"]

LIMITED_PREFIXES = ("/graphql", "/oauth/")


def subject_of(scope: Scope) -> str:
    principal = scope.get("state", {}).get("principal")
    if principal is not None:
        return str(principal.subject)
    client = scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


def _headers(decision: Decision) -> dict[str, str]:
    window = math.ceil(decision.burst / decision.rate) if decision.rate > 0 else 0
    return {
        "ratelimit-policy": f'"requests";q={int(decision.burst)};w={window}',
        "ratelimit": f'"requests";r={int(decision.remaining)};t={math.ceil(decision.reset_after)}',
    }


def _seconds_to_midnight(now: datetime) -> int:
    tomorrow = datetime.combine(now.date() + timedelta(days=1), time(), tzinfo=UTC)
    return max(1, math.ceil((tomorrow - now).total_seconds()))


class RateLimits:
    def __init__(
        self,
        app: ASGIApp,
        *,
        buckets: BucketStore,
        policy: PolicyLookup,
        in_flight: InFlight,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.app = app
        self.buckets = buckets
        self.policy = policy
        self.in_flight = in_flight
        self.clock = clock

    async def _refused_by_quota(self, subject: str, limits: ClientLimits, send: Send) -> bool:
        """Suspension and the daily quota, checked before the per-second bucket."""
        if limits.suspended:
            record_rejection("suspended", limits.tier)
            await send_error(send, 403, "PARTNER_SUSPENDED", "This app's partner is suspended.")
            return True
        if limits.daily_calls is None:
            return False
        now = self.clock()
        counted = await self.buckets.take(
            daily_key(subject, now), 1, rate=0, burst=limits.daily_calls
        )
        if counted.allowed:
            return False
        record_rejection("daily_quota", limits.tier)
        await send_error(
            send,
            429,
            "DAILY_QUOTA_EXCEEDED",
            f"The daily quota of {limits.daily_calls:,} calls is used up until midnight UTC.",
            {"retry-after": str(_seconds_to_midnight(now))},
        )
        return True

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(LIMITED_PREFIXES):
            await self.app(scope, receive, send)
            return
        subject = subject_of(scope)
        limits = await self.policy.limits_for(subject)
        scope.setdefault("state", {})["limits"] = limits
        if await self._refused_by_quota(subject, limits, send):
            return
        try:
            self.in_flight.enter(subject, limits.priority, limits.concurrency)
        except Refusal as refusal:
            status, code = (
                (503, "OVERLOADED") if refusal.reason == "overloaded" else (429, "THROTTLED")
            )
            # "overloaded": shed; otherwise the caller's own concurrency cap.
            record_rejection(
                "shed" if refusal.reason == "overloaded" else "concurrency", limits.tier
            )
            await send_error(
                send,
                status,
                code,
                "Too many requests in flight; retry shortly.",
                {"retry-after": "1"},
            )
            return
        try:
            decision = await self.buckets.take(
                f"rate:{limits.tier}:{subject}", 1, rate=limits.rate, burst=limits.burst
            )
            headers = _headers(decision)
            if not decision.allowed:
                record_rejection("rate_limit", limits.tier)
                retry = (
                    max(1, math.ceil(decision.retry_after))
                    if math.isfinite(decision.retry_after)
                    else 3600
                )
                await send_error(
                    send,
                    429,
                    "THROTTLED",
                    "Rate limit exceeded; retry after the given seconds.",
                    {"retry-after": str(retry), **headers},
                )
                return

            async def send_with_headers(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [
                        *message.get("headers", []),
                        *((k.encode(), v.encode()) for k, v in headers.items()),
                    ]
                await send(message)

            await self.app(scope, receive, send_with_headers)
        finally:
            self.in_flight.leave(subject)
