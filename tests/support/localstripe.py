"""A real ``localstripe`` server for the suite: a subprocess on 127.0.0.1, Stripe SDK clients
pointed at it, and the browser's half of a card payment (Stripe.js) done through the SDK.

``python -m localstripe`` binds ``::`` (every interface, IPv6 included) and pickles its whole
store to the shared ``/tmp/localstripe.pickle`` on every write. The harness therefore runs the
same aiohttp app through a tiny bootstrap that listens on 127.0.0.1 only and keeps the store in
memory (what ``--from-scratch`` gives, without the file).

Unreachability: ``await ls.stop()`` frees the port (connections are refused) and
``await ls.restart()`` brings a fresh server back on the same port. Like a real restart it loses
every object *and* every configured webhook. A client pointed at ``free_port()`` is the other
way to get an unreachable Stripe without touching a running server.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

import anyio
import anyio.abc
import httpx
import stripe

HOST = "127.0.0.1"
DEFAULT_API_KEY = "sk_test_agora"
SUCCEEDING_CARD = "4242424242424242"
# localstripe declines *charging* only 4000000000000341 (Stripe's "chargeCustomerFail"),
# 4000008260003178 and 4000008400001629 (those two ask for 3D Secure first).
# 4000000000000002 is declined only when attached to a customer: a PaymentIntent paid with it
# SUCCEEDS on localstripe.
DECLINING_CARD = "4000000000000341"

# Also exits when pytest dies without stopping it (SIGKILL, CI timeout): no orphan servers.
_BOOTSTRAP = """
import logging, os, sys, threading, time
from aiohttp import web
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
def orphaned(parent=os.getppid()):
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
threading.Thread(target=orphaned, daemon=True).start()
log = logging.getLogger("aiohttp.access")
log.setLevel(logging.INFO)
log.addHandler(logging.StreamHandler())
web.run_app(server.app, host=sys.argv[1], port=int(sys.argv[2]), print=None,
            access_log=log, shutdown_timeout=1.0)
"""
_START_TIMEOUT = 15.0
_STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStripe:
    port: int
    base_url: str
    process: anyio.abc.Process
    log: IO[bytes] = field(repr=False)

    def output(self) -> str:
        """Everything the server logged so far: access log, webhook deliveries, tracebacks."""
        fd = self.log.fileno()  # pread leaves the offset the server shares alone
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace")

    async def stop(self) -> None:
        """Terminate the server and wait for it; the port then refuses connections."""
        process = self.process
        if process.returncode is None:
            process.terminate()
            with anyio.move_on_after(_STOP_TIMEOUT):
                await process.wait()
            if process.returncode is None:
                process.kill()
        await process.aclose()

    async def restart(self) -> None:
        """A fresh, empty server on the same port (objects and webhooks are gone)."""
        await self.stop()
        self.process = await _spawn(self.port, self.log)
        await _wait_until_up(self)


async def _spawn(port: int, log: IO[bytes]) -> anyio.abc.Process:
    command = [sys.executable, "-c", _BOOTSTRAP, HOST, str(port)]
    return await anyio.open_process(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log)


async def _wait_until_up(ls: LocalStripe) -> None:
    headers = {"Authorization": f"Bearer {DEFAULT_API_KEY}"}
    problem = "did not come up"
    async with httpx.AsyncClient(base_url=ls.base_url, trust_env=False, timeout=1.0) as http:
        with anyio.move_on_after(_START_TIMEOUT):
            while ls.process.returncode is None:
                try:
                    response = await http.get("/v1/events", params={"limit": 1}, headers=headers)
                except httpx.TransportError:
                    await anyio.sleep(0.05)
                    continue
                if response.status_code == 200:
                    return
                problem = f"answered {response.status_code}"
                break
    await ls.stop()
    msg = f"localstripe on {ls.base_url} {problem}:\n{ls.output()}"
    raise RuntimeError(msg)


async def _launch(port: int | None, log: IO[bytes]) -> LocalStripe:
    for attempt in range(3):
        chosen = port or free_port()
        ls = LocalStripe(chosen, f"http://{HOST}:{chosen}", await _spawn(chosen, log), log)
        try:
            await _wait_until_up(ls)
        except RuntimeError:
            # Another process may have taken the free port between probe and bind.
            if port is not None or attempt == 2 or "in use" not in ls.output():
                raise
        else:
            return ls
    raise AssertionError("unreachable")


@asynccontextmanager
async def start_localstripe(port: int | None = None) -> AsyncIterator[LocalStripe]:
    """A running localstripe on 127.0.0.1 (a free port unless given), stopped on exit."""
    with tempfile.TemporaryFile() as log:
        ls = await _launch(port, log)
        try:
            yield ls
        finally:
            with anyio.CancelScope(shield=True):
                await ls.stop()


async def configure_webhook(
    base_url: str, name: str, url: str, secret: str, events: Sequence[str] | None = None
) -> None:
    """Point localstripe's webhook ``name`` at ``url`` (same name replaces). ``events=None``
    sends every event type. Deliveries are signed with ``secret``, sent 1 s after the event,
    once, with no retry."""
    body: dict[str, object] = {"url": url, "secret": secret}
    if events is not None:
        body["events"] = list(events)
    async with httpx.AsyncClient(trust_env=False, timeout=5.0) as http:
        response = await http.post(f"{base_url}/_config/webhooks/{name}", json=body)
    response.raise_for_status()


def stripe_client(
    base_url: str,
    *,
    api_key: str = DEFAULT_API_KEY,
    timeout: float = 5.0,
    max_network_retries: int = 0,
    allow_sync_methods: bool = False,
) -> stripe.StripeClient:
    """A StripeClient talking to ``base_url`` over plain HTTP, as the app builds it. Use the
    ``*_async`` methods; sync ones need ``allow_sync_methods=True`` (and block the loop).
    Its connection pool is never closed: prefer ``stripe_session`` for anything long-lived."""
    http = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=allow_sync_methods)
    return _client(base_url, api_key, max_network_retries, http)


@asynccontextmanager
async def stripe_session(
    base_url: str,
    *,
    api_key: str = DEFAULT_API_KEY,
    timeout: float = 5.0,  # noqa: ASYNC109 - per HTTP request, not for this function
    max_network_retries: int = 0,
    allow_sync_methods: bool = False,
) -> AsyncIterator[stripe.StripeClient]:
    """``stripe_client`` whose HTTP connections are closed on exit (no ResourceWarning)."""
    http = stripe.HTTPXClient(timeout=timeout, allow_sync_methods=allow_sync_methods)
    try:
        yield _client(base_url, api_key, max_network_retries, http)
    finally:
        http.close()
        await http.close_async()


def _client(base_url: str, key: str, retries: int, http: stripe.HTTPXClient) -> stripe.StripeClient:
    return stripe.StripeClient(
        key, base_addresses={"api": base_url}, http_client=http, max_network_retries=retries
    )


async def _attach_card(client: stripe.StripeClient, payment_intent_id: str, card: str) -> None:
    payment_method = await client.v1.payment_methods.create_async(
        {
            "type": "card",
            "card": {
                "number": card,
                "exp_month": 12,
                "exp_year": datetime.now(UTC).year + 3,
                "cvc": "123",
            },
        }
    )
    await client.v1.payment_intents.update_async(
        payment_intent_id, {"payment_method": payment_method.id}
    )


async def pay_intent(
    client: stripe.StripeClient, payment_intent_id: str, *, card: str = SUCCEEDING_CARD
) -> stripe.PaymentIntent:
    """What Stripe.js does for a card payment: create a PaymentMethod, put it on the intent,
    confirm. Returns the confirmed intent (``succeeded`` for a good card). A declining card
    raises ``stripe.CardError`` as the real API does."""
    await _attach_card(client, payment_intent_id, card)
    return await client.v1.payment_intents.confirm_async(payment_intent_id)


async def fail_intent(
    client: stripe.StripeClient, payment_intent_id: str, *, card: str = DECLINING_CARD
) -> stripe.PaymentIntent:
    """Confirm the intent with a card that is declined; localstripe then sends
    ``payment_intent.payment_failed``. Returns the intent, back in ``requires_payment_method``
    with ``last_payment_error.code == "card_declined"``."""
    await _attach_card(client, payment_intent_id, card)
    try:
        await client.v1.payment_intents.confirm_async(payment_intent_id)
    except stripe.CardError:
        return await client.v1.payment_intents.retrieve_async(payment_intent_id)
    msg = f"card {card} was not declined for {payment_intent_id}"
    raise AssertionError(msg)


def sign_stripe_event(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``: ``t=<unix time>,v1=<hex HMAC-SHA256 of
    "<t>.<payload>" keyed by the endpoint secret>``, Stripe's documented scheme."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"
