"""Load benchmark: the served GraphQL API under ``wrk`` against a hand-written floor.

Seeds a realistic catalog, starts the real server (``agora serve``: 1 worker on SQLite, 2 on
PostgreSQL when one answers at 127.0.0.1:5432) and drives it at a fixed concurrency with a
POST script, for (a) the storefront listing (50 products with category, images, variants,
price and stock) and (b) a product detail; beside it runs ``bench.floor``, the same listing
written by hand in Starlette and SQLAlchemy Core, on the same database with the same workers,
as (c). The three take turns, for a few rounds, and the table shows medians. Absolute figures
on a shared machine mean little; the ratio (a)/(c) is the point: it is what GraphQL, the ORM
and the middleware cost over the minimal work. Before measuring, the floor's answer is checked
against the GraphQL answer, so the floor does the same work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from app.config import Settings
from app.migrate import sync_policy, upgrade
from app.seed import DEMO_HANDLE, seed_demo
from bench.settings import bench_settings

__all__ = ["DETAIL", "LISTING", "ensure_wrk", "main", "parse_wrk", "prepare"]

PRODUCTS = 5000
DURATION_S = 10
ROUNDS = 3
THREADS = 2
CONNECTIONS = 8
PAGE_SIZE = 50
PG_HOST, PG_PORT = "127.0.0.1", 5432
SQLITE_WORKERS, PG_WORKERS = 1, 2
DETAIL_HANDLE = "demo-product-2"  # every 25th product, the first included, is a draft
HEADERS = {"Content-Type": "application/json", "X-Agora-Shop": DEMO_HANDLE}

NODE = (
    "id handle title category { name } images { url altText }"
    " priceRange { min { amount currencyCode } max { amount currencyCode } }"
    " variants { id sku price { amount currencyCode } quantityAvailable }"
)
LISTING = (
    "query Listing($first: Int!) { products(first: $first, sortKey: TITLE) {"
    f" edges {{ node {{ {NODE} }} }} pageInfo {{ hasNextPage }} }} }}"
)
DETAIL = f"query Detail($handle: String!) {{ product(handle: $handle) {{ {NODE} }} }}"


@dataclass(frozen=True, slots=True)
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    failures: int  # non-2xx answers and socket errors: a run with any is not a measurement


def ensure_wrk() -> str | None:
    """The ``wrk`` binary, installed from Debian's package when missing (the bench runs as root
    in CI and in the dev container); None when it cannot be had."""
    found = shutil.which("wrk")
    if found or shutil.which("apt-get") is None:
        return found
    apt = shutil.which("apt-get") or "apt-get"

    def quietly(*args: str) -> int:
        done = subprocess.run(  # noqa: S603 - fixed arguments
            [apt, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        )
        return done.returncode

    if quietly("install", "-y", "-qq", "wrk") != 0:
        quietly("update", "-qq")
        quietly("install", "-y", "-qq", "wrk")
    return shutil.which("wrk")


def _environment(settings: Settings) -> dict[str, str]:
    """The same settings for a child process, as ``AGORA_*`` variables."""
    names = [
        *("environment", "var_dir", "database_url", "log_level", "concurrency_per_principal"),
        *("rate_limit_rate", "rate_limit_burst", "query_cost_bucket_max"),
        *("query_cost_restore_rate", "jobs_interval_seconds", "dispatcher_interval_seconds"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGORA_")}
    env.update({f"AGORA_{name.upper()}": str(getattr(settings, name)) for name in names})
    return env


async def answers(settings: Settings) -> tuple[dict[str, Any], dict[str, Any]]:
    """The listing as the GraphQL app and as the floor answer it, both in process over ASGI."""
    from app.main import create_app
    from bench import floor

    bodies = []
    for app in (create_app(settings), floor.create_app(settings)):
        async with app.router.lifespan_context(app):  # type: ignore[attr-defined]
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                payload = {"query": LISTING, "variables": {"first": PAGE_SIZE}}
                response = await http.post("/graphql", json=payload, headers=HEADERS)
                bodies.append(response.json())
    return bodies[0], bodies[1]


async def prepare(settings: Settings, products: int) -> None:
    """Migrate, load the policy and seed the demo shop with ``products`` products."""
    url = settings.resolved_database_url
    await asyncio.to_thread(upgrade, url)
    await sync_policy(settings, url)
    await seed_demo(settings, products=products)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def serving(command: list[str], settings: Settings) -> Iterator[str]:
    """Run a server (its own process group, so its workers go with it) until it answers."""
    port = _free_port()
    argv = [*command, "--host", "127.0.0.1", "--port", str(port)]
    log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed with the server, below
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        argv, env=_environment(settings), start_new_session=True, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"{argv[:4]} exited: {process.returncode}\n{log.read()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if post(base, LISTING, {"first": 1}).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv[:4]} did not answer within 60 s")
            time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        log.close()


def post(base: str, query: str, variables: dict[str, Any]) -> httpx.Response:
    return httpx.post(
        f"{base}/graphql", json={"query": query, "variables": variables}, headers=HEADERS
    )


def _lua(query: str, variables: dict[str, Any]) -> str:
    body = json.dumps({"query": query, "variables": variables})
    headers = "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in HEADERS.items())
    return f'wrk.method = "POST"\nwrk.body = [==[{body}]==]\n{headers}'


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> WrkResult:
    """Requests per second and the p50/p99 latencies of ``wrk --latency`` output."""

    def latency(percent: str) -> float:
        found = re.search(rf"^\s*{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        return float(found[1]) * _UNITS[found[2]] if found else float("nan")

    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    sockets = re.search(r"Socket errors: (.*)", output)
    socket_errors = sum(int(n) for n in re.findall(r"\d+", sockets[1])) if sockets else 0
    return WrkResult(
        rps=float(rps[1]) if rps else 0.0,
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        failures=(int(non_2xx[1]) if non_2xx else 0) + socket_errors,
    )


def run_wrk(wrk: str, base: str, query: str, variables: dict[str, Any]) -> WrkResult:
    """One fixed-concurrency run of ``DURATION_S`` seconds, after a second of warm-up."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(_lua(query, variables))
    try:
        # A generous timeout: a slow answer is a latency to report, not a socket error.
        common = [wrk, "-t", str(THREADS), "-c", str(CONNECTIONS), "--timeout", "10s"]
        common += ["-s", script.name]
        warm_up = [*common, "-d", "1s", base + "/graphql"]
        subprocess.run(warm_up, capture_output=True, check=True)  # noqa: S603 - our arguments
        measured = subprocess.run(  # noqa: S603 - our arguments
            [*common, "-d", f"{DURATION_S}s", "--latency", base + "/graphql"],
            capture_output=True,
            text=True,
            check=True,
        )
    finally:
        os.unlink(script.name)
    return parse_wrk(measured.stdout)


def _agora_serve(workers: int) -> list[str]:
    """The real entry point, as deployed: the ``agora`` script beside this interpreter."""
    return [str(Path(sys.executable).parent / "agora"), "serve", "--workers", str(workers)]


def _floor(workers: int) -> list[str]:
    return [
        *(sys.executable, "-m", "uvicorn", "bench.floor:create_app", "--factory"),
        *("--workers", str(workers), "--log-level", "warning", "--no-access-log"),
    ]


Rows = list[tuple[str, list[WrkResult]]]


def measure(wrk: str, settings: Settings, workers: int) -> Rows:
    """(a) and (b) on the GraphQL server and (c) on the floor, both up at once, after checking
    they agree; ``ROUNDS`` rounds of all three in turn, so drifting load on a shared machine
    hits every endpoint alike."""
    listing_vars = {"first": PAGE_SIZE}
    detail_vars = {"handle": DETAIL_HANDLE}
    with (
        serving(_agora_serve(workers), settings) as app,
        serving(_floor(workers), settings) as floor,
    ):
        expected = post(app, LISTING, listing_vars).json()
        assert "errors" not in expected, expected
        assert post(app, DETAIL, detail_vars).json()["data"]["product"]
        if post(floor, LISTING, listing_vars).json()["data"] != expected["data"]:
            raise AssertionError("the floor's listing differs from the GraphQL listing")
        rows: Rows = [
            ("(a) GraphQL listing, 50 products", []),
            ("(b) GraphQL product detail", []),
            ("(c) floor: hand-written listing", []),
        ]
        targets = [(app, LISTING, listing_vars), (app, DETAIL, detail_vars)]
        targets.append((floor, LISTING, listing_vars))
        for _ in range(ROUNDS):
            for (_, results), (base, query, variables) in zip(rows, targets, strict=True):
                results.append(run_wrk(wrk, base, query, variables))
    return rows


def render(title: str, rows: Rows) -> str:
    """Medians over the rounds; the ratio is the median of each round's own (a)/(c)."""
    lines = [title, f"{'endpoint':36} {'RPS':>8} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}"]
    for name, results in rows:
        rps = statistics.median(r.rps for r in results)
        p50 = statistics.median(r.p50_ms for r in results)
        p99 = statistics.median(r.p99_ms for r in results)
        failed = sum(r.failures for r in results)
        lines.append(f"{name:36} {rps:8.1f} {p50:8.1f} {p99:8.1f} {failed:7d}")
    pairs = zip(rows[0][1], rows[-1][1], strict=True)
    ratios = [a.rps / c.rps for a, c in pairs if c.rps]
    rounds = " ".join(f"{r:.2f}" for r in ratios)
    median = statistics.median(ratios) if ratios else float("nan")
    lines.append(f"ratio (a)/(c) RPS: {median:.2f} (rounds: {rounds})")
    return "\n".join(lines)


def postgres_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection((PG_HOST, PG_PORT), timeout=1):
        return True
    return False


async def _admin(statement: str, database: str = "postgres") -> None:
    import asyncpg

    connection = await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user="postgres", database=database
    )
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def _run_sqlite(wrk: str, scratch: Path) -> str:
    settings = bench_settings(scratch / "sqlite", f"sqlite+aiosqlite:///{scratch}/load.db")
    asyncio.run(prepare(settings, PRODUCTS))
    rows = measure(wrk, settings, SQLITE_WORKERS)
    return render(f"SQLite, {SQLITE_WORKERS} worker, {PRODUCTS} products", rows)


def _run_postgres(wrk: str, scratch: Path) -> str:
    name = f"agora_load_{os.getpid()}"
    asyncio.run(_admin(f"CREATE DATABASE {name}"))
    try:
        url = f"postgresql+asyncpg://postgres@{PG_HOST}:{PG_PORT}/{name}"
        settings = bench_settings(scratch / "pg", url)
        asyncio.run(prepare(settings, PRODUCTS))
        # Freshly bulk-loaded tables have no statistics until autovacuum gets to them (about a
        # minute); until then the planner misestimates and JIT-compiles every query (~15 ms
        # each, seen in EXPLAIN ANALYZE), which would measure the fresh database, not the code.
        asyncio.run(_admin("ANALYZE", name))
        rows = measure(wrk, settings, PG_WORKERS)
    finally:
        asyncio.run(_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return render(f"PostgreSQL, {PG_WORKERS} workers, {PRODUCTS} products", rows)


def main(*, sqlite: bool = True, postgres: bool = True) -> None:
    """Both databases when PostgreSQL answers; SQLite alone otherwise (said so, not hidden)."""
    wrk = ensure_wrk()
    if wrk is None:
        print("wrk is not installed and could not be installed: nothing measured")
        return
    print(
        f"wrk -t{THREADS} -c{CONNECTIONS}, {ROUNDS} rounds of {DURATION_S} s per endpoint",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as scratch:
        if sqlite:
            print(_run_sqlite(wrk, Path(scratch)), flush=True)
        if not postgres:
            return
        if not postgres_reachable():
            print(f"\nPostgreSQL is not reachable at {PG_HOST}:{PG_PORT}: skipped")
            return
        print()
        print(_run_postgres(wrk, Path(scratch)))


if __name__ == "__main__":  # python -m bench.graphql_load [--seconds N] [--rounds N] [--only DB]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=DURATION_S, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=ROUNDS)
    parser.add_argument("--products", type=int, default=PRODUCTS)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    arguments = parser.parse_args()
    DURATION_S, ROUNDS, PRODUCTS = arguments.seconds, arguments.rounds, arguments.products
    main(sqlite=arguments.only != "postgres", postgres=arguments.only != "sqlite")
