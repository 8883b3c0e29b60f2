"""Signed HTTP calls from Agora to a partner's server: webhooks and extension calls.

One client for both, so both get the same guarantees: the URL passes ``OutboundPolicy`` on
its resolved address, the request is signed with ``app/security/signing.py``, the whole call
(connect, send, wait, read) fits in one deadline, redirects are not followed (a 3xx could
point anywhere, including inside), and at most ``max_body_bytes`` of an answer are read.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.security.outbound import OutboundPolicy, UrlRefused
from app.security.signing import sign_request

__all__ = ["CallFailed", "OutboundClient", "OutboundResponse"]

USER_AGENT = "Agora/1 (+webhooks)"


@dataclass(frozen=True, slots=True)
class OutboundResponse:
    status_code: int
    body: bytes
    latency_ms: int

    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 300


class CallFailed(Exception):
    """No usable answer: ``kind`` is ``timeout``, ``connection``, ``refused_url`` or
    ``too_large``; ``permanent`` when trying again cannot help."""

    def __init__(self, kind: str, detail: str, latency_ms: int, *, permanent: bool = False):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.latency_ms = latency_ms
        self.permanent = permanent


class OutboundClient:
    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        max_body_bytes: int = 65_536,
        wall_clock: Callable[[], float] = time.time,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._policy = policy
        self._max_body = max_body_bytes
        self._wall_clock = wall_clock
        self._http = httpx.AsyncClient(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: the address check must hold
            transport=transport,
            headers={"User-Agent": USER_AGENT},
        )

    @property
    def policy(self) -> OutboundPolicy:
        return self._policy

    async def close(self) -> None:
        await self._http.aclose()

    async def post_signed(
        self,
        url: str,
        body: bytes,
        *,
        key: str,
        secret: bytes,
        nonce: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeout_seconds: float,
    ) -> OutboundResponse:
        """POST ``body`` signed as ``key``; raises ``CallFailed`` when no answer came back."""
        started = time.perf_counter()

        def elapsed() -> int:
            return int((time.perf_counter() - started) * 1000)

        parts = urlsplit(url)
        signature = sign_request(
            key=key,
            secret=secret,
            method="POST",
            path=parts.path or "/",
            query=parts.query,
            body=body,
            nonce=nonce,
            clock=self._wall_clock,
        )
        try:
            async with asyncio.timeout(timeout_seconds):
                target = await self._policy.resolve_target(url)
                extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
                request = self._http.build_request(
                    "POST",
                    target.url,
                    content=body,
                    headers={
                        **(headers or {}),
                        **signature,
                        "Host": target.host,
                        "Content-Type": "application/json",
                    },
                    extensions=extensions,
                    timeout=timeout_seconds,
                )
                response = await self._http.send(request, stream=True)
                try:
                    received = bytearray()
                    async for chunk in response.aiter_bytes():
                        received += chunk
                        if len(received) > self._max_body:
                            raise CallFailed(
                                "too_large", f"answer over {self._max_body} bytes", elapsed()
                            )
                finally:
                    await response.aclose()
        except UrlRefused as exc:
            raise CallFailed("refused_url", exc.reason, elapsed(), permanent=True) from exc
        except TimeoutError as exc:
            raise CallFailed("timeout", f"no answer in {timeout_seconds:g} s", elapsed()) from exc
        except httpx.TimeoutException as exc:
            raise CallFailed("timeout", f"no answer in {timeout_seconds:g} s", elapsed()) from exc
        except httpx.HTTPError as exc:
            raise CallFailed("connection", type(exc).__name__, elapsed()) from exc
        return OutboundResponse(response.status_code, bytes(received), elapsed())
