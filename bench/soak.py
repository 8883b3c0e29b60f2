"""Soak: a fixed concurrency of mixed storefront, back-office and marketplace traffic against a
real server process on 127.0.0.1 for a while (60 s by default), on a throwaway SQLite database
seeded with the demo shop.

What it proves: no request fails under steady load, and the server's memory levels off. The
worker's resident set (VmRSS of the uvicorn process) is read once the warm-up is over (the 10th
second: caches, statement caches and pools filled) and again at the end; growth of 10 % or more
over a steady mix of the same documents means something keeps what it should let go. Exits
non-zero on any error or on that growth (``python -m bench.soak --help``).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from app.seed import SeedReport
from bench.fuzz_world import prepared_database

__all__ = ["CONCURRENCY", "SECONDS", "SoakReport", "main", "soak"]

SECONDS = 60.0
CONCURRENCY = 8
WARMUP_SECONDS = 10.0
MAX_GROWTH = 0.10
SHOP = "demo"
BUSINESS = "business@demo.agora.test"

LISTING = (
    "query($after: String) { products(first: 20, after: $after, sortKey: PRICE) {"
    " nodes { id title priceRange { min { amount currencyCode } }"
    " variants { sku quantityAvailable } }"
    " pageInfo { hasNextPage endCursor } } }"
)
DETAIL = (
    "query($id: ID!) { product(id: $id) { title description category { name parent { name } }"
    " images { url } variants { id sku price { amount } quantityAvailable } } }"
)
CART_CREATE = (
    "mutation($v: ID!) { cartCreate(lines: [{variantId: $v, quantity: 1}])"
    " { cart { id cost { subtotal { amount } } } errors { code } } }"
)
CART_ADD = (
    "mutation($c: ID!, $v: ID!) { cartLinesAdd(cartId: $c, lines: [{variantId: $v, quantity: 2}])"
    " { cart { lines { quantity } cost { subtotal { amount } } } errors { code } } }"
)
BUSINESS_ORDERS = (
    "{ orders(first: 10) { nodes { name status paymentStatus cost { total { amount } } }"
    " pageInfo { hasNextPage } } warehouses { code name } }"
)
MARKETPLACE = (
    "{ marketplaceListings(first: 10, sort: POPULAR) { nodes { slug name rating installs } }"
    " tierPolicies { tier } }"
)


@dataclass
class SoakReport:
    """Requests per kind, errors (with a few samples) and the server's RSS over the run."""

    seconds: float
    concurrency: int
    requests: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    rss_warm_kib: int = 0
    rss_end_kib: int = 0
    warmup: float = WARMUP_SECONDS

    @property
    def growth(self) -> float:
        return (self.rss_end_kib - self.rss_warm_kib) / max(self.rss_warm_kib, 1)

    @property
    def passed(self) -> bool:
        return not self.errors and self.growth < MAX_GROWTH

    def render(self) -> str:
        total = sum(self.requests.values())
        lines = [
            f"soak: {self.seconds:.0f} s at concurrency {self.concurrency}",
            f"requests: {total} ({total / self.seconds:.0f}/s)",
        ]
        lines += [f"  {kind:18} {count:8}" for kind, count in sorted(self.requests.items())]
        lines.append(f"errors: {sum(self.errors.values())}")
        lines += [f"  {kind:18} {count:8}" for kind, count in sorted(self.errors.items())]
        lines += [f"  sample: {sample}" for sample in self.samples]
        lines += [
            f"rss at {self.warmup:.0f} s: {self.rss_warm_kib / 1024:.1f} MiB",
            f"rss at end: {self.rss_end_kib / 1024:.1f} MiB",
            f"rss growth: {self.growth * 100:+.1f} % (limit {MAX_GROWTH * 100:.0f} %)",
            "PASS" if self.passed else "FAIL",
        ]
        return "\n".join(lines)


def rss_kib(pid: int) -> int:
    """Resident set size of a process, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def _server_env(scratch: Path, database_url: str) -> dict[str, str]:
    """The server's settings, as AGORA_* variables: the seeded database and keys, and limits
    raised so that one client at fixed concurrency is not throttled."""
    return {
        **os.environ,
        "AGORA_VAR_DIR": str(scratch),
        "AGORA_DATABASE_URL": database_url,
        "AGORA_REDIS_URL": "",
        "AGORA_LOG_LEVEL": "WARNING",
        "AGORA_RATE_LIMIT_RATE": "1000000",
        "AGORA_RATE_LIMIT_BURST": "1000000",
        "AGORA_QUERY_COST_BUCKET_MAX": "100000000",
        "AGORA_QUERY_COST_RESTORE_RATE": "1000000",
        "AGORA_PASSWORD_HASH_TIME_COST": "1",
        "AGORA_PASSWORD_HASH_MEMORY_KIB": "8",
    }


async def _ready(http: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            if (await http.get("/healthz")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become ready")


class Mix:
    """The five kinds of request, taken in turn by every worker."""

    def __init__(self, http: httpx.AsyncClient, report: SoakReport) -> None:
        self.http = http
        self.report = report
        self.products: list[str] = []
        self.variants: list[str] = []
        self.business_token = ""
        self.turn = itertools.count()

    async def post(
        self, kind: str, query: str, variables: dict[str, Any], token: str | None = None
    ) -> dict[str, Any] | None:
        """One request; anything but a clean 200 counts as an error of its kind."""
        headers = {"x-agora-shop": SHOP}
        if token:
            headers["authorization"] = f"Bearer {token}"
        self.report.requests[kind] += 1
        try:
            response = await self.http.post(
                "/graphql", json={"query": query, "variables": variables}, headers=headers
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            return self._failed(kind, repr(error))
        if response.status_code != 200 or body.get("errors"):
            return self._failed(kind, f"HTTP {response.status_code} {str(body)[:200]}")
        return body["data"]  # type: ignore[no-any-return]

    def _failed(self, kind: str, sample: str) -> None:
        self.report.errors[kind] += 1
        if len(self.report.samples) < 5:
            self.report.samples.append(f"{kind}: {sample}")

    async def prepare(self, seeded: SeedReport) -> None:
        """The catalog to browse and the business user's token, fetched before the clock runs."""
        data = await self.post("setup", LISTING, {"after": None})
        assert data is not None, self.report.samples
        nodes = data["products"]["nodes"]
        self.products = [node["id"] for node in nodes]
        passwords = {email: password for email, password, _ in seeded.credentials}
        login = await self.post(
            "setup",
            "mutation($e: String!, $p: String!) { tokenCreate(email: $e, password: $p)"
            " { accessToken } }",
            {"e": BUSINESS, "p": passwords[BUSINESS]},
        )
        assert login is not None, self.report.samples
        self.business_token = login["tokenCreate"]["accessToken"]
        self.variants = [
            variant["id"] for node in nodes for variant in await self._variants(node["id"])
        ]
        self.report.requests.pop("setup")

    async def _variants(self, product: str) -> list[dict[str, Any]]:
        detail = await self.post("setup", DETAIL, {"id": product})
        assert detail is not None, self.report.samples
        return detail["product"]["variants"]  # type: ignore[no-any-return]

    def _pick(self, items: list[str], n: int) -> str:
        return items[n % len(items)]

    async def one(self) -> None:
        n = next(self.turn)
        steps: list[Callable[[], Awaitable[Any]]] = [
            lambda: self.post("listing", LISTING, {"after": None}),
            lambda: self.post("product detail", DETAIL, {"id": self._pick(self.products, n)}),
            lambda: self._cart(n),
            lambda: self.post("business orders", BUSINESS_ORDERS, {}, self.business_token),
            lambda: self.post("marketplace", MARKETPLACE, {}),
        ]
        await steps[n % len(steps)]()

    async def _cart(self, n: int) -> None:
        created = await self.post("cart create", CART_CREATE, {"v": self._pick(self.variants, n)})
        if created is None or created["cartCreate"]["cart"] is None:
            return
        cart = created["cartCreate"]["cart"]["id"]
        await self.post(
            "cart add lines", CART_ADD, {"c": cart, "v": self._pick(self.variants, n + 1)}
        )


async def _drive(mix: Mix, pid: int, report: SoakReport) -> None:
    started = time.monotonic()
    deadline = started + report.seconds

    async def worker() -> None:
        while time.monotonic() < deadline:
            await mix.one()

    async def sample_warm_rss() -> None:
        await asyncio.sleep(report.warmup)
        report.rss_warm_kib = rss_kib(pid)

    await asyncio.gather(sample_warm_rss(), *(worker() for _ in range(report.concurrency)))
    report.rss_end_kib = rss_kib(pid)


def soak(seconds: float = SECONDS, concurrency: int = CONCURRENCY) -> SoakReport:
    """Run the load against a fresh server process and measure it."""
    report = SoakReport(seconds, concurrency, warmup=min(WARMUP_SECONDS, seconds / 3))
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    with prepared_database() as (settings, seeded), tempfile.TemporaryFile() as log:
        command = [
            sys.executable,
            *("-m", "uvicorn", "--factory", "app.main:create_app"),
            *("--fd", str(listener.fileno()), "--no-access-log", "--log-level", "warning"),
        ]
        env = _server_env(settings.var_dir, settings.resolved_database_url)
        server = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
            command, env=env, pass_fds=(listener.fileno(),), stdout=log, stderr=log
        )
        listener.close()
        failed = True
        try:
            asyncio.run(_run(f"http://127.0.0.1:{port}", server, seeded, report))
            failed = not report.passed
        finally:
            server.terminate()
            server.wait(timeout=30)
            if failed:  # the server's own account of it
                log.seek(0)
                print(log.read().decode(errors="replace")[-4000:], file=sys.stderr)
    return report


async def _run(
    url: str, server: subprocess.Popen[bytes], seeded: SeedReport, report: SoakReport
) -> None:
    limits = httpx.Limits(max_connections=report.concurrency * 2)
    async with httpx.AsyncClient(base_url=url, timeout=30, limits=limits) as http:
        await _ready(http, server)
        mix = Mix(http, report)
        await mix.prepare(seeded)
        await _drive(mix, server.pid, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=SECONDS)
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    args = parser.parse_args(argv)
    report = soak(args.seconds, args.concurrency)
    print(report.render())
    return 0 if report.passed else 1


if __name__ == "__main__":  # python -m bench.soak
    sys.exit(main())
