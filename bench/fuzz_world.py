"""What the fuzzer and the soak run stand on: a throwaway database with the demo shop, a real
uvicorn server on 127.0.0.1 in a thread of this process, and signed-in callers of every role.

The server runs in a thread with its own event loop so that a synchronous driver (Hypothesis
calls its test function synchronously) can talk to it over real HTTP, and so that the
tracebacks the server logs for a crash can be caught in this process and shown beside the
operation that caused it.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from app.config import Settings
from app.main import create_app
from app.migrate import sync_policy, upgrade
from app.seed import SeedReport, seed_demo
from bench.settings import UNLIMITED, bench_settings

__all__ = ["ROLES", "Callers", "CrashLog", "fuzz_settings", "prepared_database", "running_server"]

# Who fuzzes, and which demo user (app.seed.DEMO_USERS) each one signs in as.
ROLES: dict[str, str | None] = {
    "anonymous": None,
    "shopper": "shopper@demo.agora.test",
    "business": "business@demo.agora.test",
    "partner_business": "partner-business@demo.agora.test",
    "developer": "developer@demo.agora.test",
    "owner": "owner@demo.agora.test",
    "ops": "ops@demo.agora.test",
    "finance": "finance@demo.agora.test",
    "community_admin": "community-admin@demo.agora.test",
}
SHOP = "demo"
DEMO_PRODUCTS = 30


def fuzz_settings(scratch: Path) -> Settings:
    """Limits that throttle (rate, cost budget, cost per query) are raised so that they never
    hide a crash behind THROTTLED; the document limits (tokens, depth, aliases) stay as
    shipped, since refusing a document with a clear code is part of what is under test."""
    return bench_settings(
        scratch,
        f"sqlite+aiosqlite:///{scratch}/fuzz.db",
        access_token_ttl_seconds=3600,
        max_query_cost=UNLIMITED,
        login_max_failures=1_000_000,
    )


@contextmanager
def prepared_database() -> Iterator[tuple[Settings, SeedReport]]:
    """A migrated SQLite database in a temporary directory, seeded with the demo shop."""
    with tempfile.TemporaryDirectory(prefix="agora-fuzz-") as scratch:
        settings = fuzz_settings(Path(scratch))

        async def prepare() -> SeedReport:
            url = settings.resolved_database_url
            await asyncio.to_thread(upgrade, url)
            await sync_policy(settings, url)
            report = await seed_demo(settings, products=DEMO_PRODUCTS)
            assert report is not None
            return report

        yield settings, asyncio.run(prepare())


class CrashLog(logging.Handler):
    """Keeps every logged exception by request id, to print the trace of an INTERNAL."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.traces: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        request_id = getattr(record, "request_id", None)
        if request_id and record.exc_info:
            formatter = logging.Formatter()
            self.traces[str(request_id)] = formatter.formatException(record.exc_info)


@contextmanager
def running_server(settings: Settings) -> Iterator[tuple[str, CrashLog]]:
    """uvicorn serving ``create_app(settings)`` on a free 127.0.0.1 port, in a thread."""
    crashes = CrashLog()
    config = uvicorn.Config(
        create_app(settings),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        access_log=False,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="fuzz-server", daemon=True)
    # app.logs keeps "agora" records from propagating: listen where they are handled.
    root = logging.getLogger("agora")
    root.addHandler(crashes)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}", crashes
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        root.removeHandler(crashes)


@dataclass
class Callers:
    """Bearer tokens per role and global IDs of real objects for the fuzzer to aim at."""

    tokens: dict[str, str | None] = field(default_factory=dict)
    ids: list[str] = field(default_factory=list)

    def headers(self, role: str) -> dict[str, str]:
        headers = {"x-agora-shop": SHOP}
        token = self.tokens[role]
        if token is not None:
            headers["authorization"] = f"Bearer {token}"
        return headers

    @classmethod
    def sign_in(cls, http: httpx.Client, report: SeedReport) -> Callers:
        """Log every demo user in, then make a partner, an app, a listing and an order, so
        that IDs of real objects exist for every domain."""
        passwords = {email: password for email, password, _ in report.credentials}
        callers = cls()
        for role, email in ROLES.items():
            callers.tokens[role] = None
            if email is not None:
                data = callers.call(
                    http,
                    "anonymous",
                    "mutation($e: String!, $p: String!) { tokenCreate(email: $e, password: $p)"
                    " { accessToken errors { code } } }",
                    {"e": email, "p": passwords[email]},
                )
                callers.tokens[role] = data["tokenCreate"]["accessToken"]
        callers._make_objects(http)
        return callers

    def call(
        self, http: httpx.Client, role: str, query: str, variables: dict[str, Any]
    ) -> dict[str, Any]:
        """One set-up request, which must succeed."""
        response = http.post(
            "/graphql",
            json={"query": query, "variables": variables},
            headers=self.headers(role),
        )
        body = response.json()
        assert response.status_code == 200, body
        assert not body.get("errors"), body
        return body["data"]  # type: ignore[no-any-return]

    def _make_objects(self, http: httpx.Client) -> None:
        products = self.call(
            http,
            "anonymous",
            "{ products(first: 5) { nodes { id variants { id quantityAvailable } } } }",
            {},
        )["products"]["nodes"]
        stocked = [v for node in products for v in node["variants"] if v["quantityAvailable"]]
        variants = [variant["id"] for variant in stocked]
        self.ids += [node["id"] for node in products] + variants
        partner = self.call(
            http,
            "owner",
            'mutation { partnerRegister(input: {name: "Fuzz Partner",'
            ' contactEmail: "fuzz@partner.example"}) { partner { id } } }',
            {},
        )["partnerRegister"]["partner"]["id"]
        app = self.call(
            http,
            "developer",
            'mutation($p: ID!) { appCreate(input: {partnerId: $p, name: "Fuzz App",'
            ' redirectUris: ["https://app.example/callback"], scopes: ["goods:read"]})'
            " { app { id } errors { code } } }",
            {"p": partner},
        )["appCreate"]["app"]["id"]
        listing = self.call(
            http,
            "partner_business",
            'mutation($a: ID!) { listingCreate(appId: $a, input: {slug: "fuzz-app",'
            ' name: "Fuzz App", category: "testing"}) { listing { id } errors { code } } }',
            {"a": app},
        )["listingCreate"]["listing"]["id"]
        cart = self.call(
            http,
            "shopper",
            "mutation($v: ID!) { cartCreate(lines: [{variantId: $v, quantity: 1}])"
            " { cart { id } errors { code } } }",
            {"v": variants[0]},
        )["cartCreate"]["cart"]["id"]
        self.ids += [partner, app, listing, cart, self._order(http, cart)]

    def _order(self, http: httpx.Client, cart: str) -> str:
        """The shopper checks the cart out, so that orders, lines and payments exist."""
        self.call(
            http,
            "shopper",
            'mutation($c: ID!) { cartBuyerUpdate(cartId: $c, email: "ann@example.com")'
            ' { errors { code } } cartShippingAddressUpdate(cartId: $c, address: {name: "Ann",'
            ' street1: "Unter den Linden 1", city: "Berlin", postalCode: "10117",'
            ' countryCode: "DE"}) { errors { code } } }',
            {"c": cart},
        )
        self.call(
            http,
            "shopper",
            'mutation($c: ID!) { cartShippingMethodSelect(cartId: $c, code: "standard")'
            " { errors { code } } }",
            {"c": cart},
        )
        placed = self.call(
            http,
            "shopper",
            "mutation($c: ID!) { checkoutComplete(cartId: $c, paymentMethod: CASH_ON_DELIVERY,"
            ' idempotencyKey: "fuzz-checkout") { order { id } errors { code message } } }',
            {"c": cart},
        )["checkoutComplete"]
        assert placed["order"] is not None, placed
        return str(placed["order"]["id"])
