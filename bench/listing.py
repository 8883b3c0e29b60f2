"""Product listing benchmarks on a throwaway SQLite database, in process over ASGI.

Prints medians and, above all, ratios against a baseline measured in the same run:
absolute times on a shared machine mean little, ratios survive the noise.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from app.main import create_app
from app.migrate import sync_policy, upgrade
from app.seed import seed_demo
from bench.settings import bench_settings

PRODUCTS = 1500
ROUNDS = 15
FULL = (
    "edges { cursor node { title category { name } images { url }"
    " variants { sku price { amount } quantityAvailable } priceRange { min { amount } } } }"
)
TITLES = "edges { cursor node { title } }"


async def _timed(
    http: httpx.AsyncClient, query: str, variables: dict[str, Any]
) -> tuple[float, Any]:
    started = time.perf_counter()
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    elapsed = time.perf_counter() - started
    body = response.json()
    assert "errors" not in body, body
    return elapsed, body["data"]


async def _median(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> float:
    await _timed(http, query, variables)  # warm caches and the statement cache
    return statistics.median([(await _timed(http, query, variables))[0] for _ in range(ROUNDS)])


def _listing(selection: str) -> str:
    return (
        "query($first: Int!, $after: String) { products(first: $first, after: $after, "
        f"sortKey: TITLE) {{ {selection} pageInfo {{ endCursor }} }} }}"
    )


async def _run(http: httpx.AsyncClient) -> list[tuple[str, float, float]]:
    rows = []
    first_page = await _median(http, _listing(TITLES), {"first": 50})
    cursor = None
    for _ in range(20):  # walk 1,000 products deep
        _, data = await _timed(http, _listing(TITLES), {"first": 50, "after": cursor})
        cursor = data["products"]["pageInfo"]["endCursor"]
    deep_page = await _median(http, _listing(TITLES), {"first": 50, "after": cursor})
    rows.append(("keyset page 21 vs page 1 (50 titles)", deep_page, first_page))
    for size in (10, 100):
        baseline = await _median(http, _listing(TITLES), {"first": size})
        full = await _median(http, _listing(FULL), {"first": size})
        rows.append((f"full listing vs titles only, first: {size}", full, baseline))
    return rows


async def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        # Its own database: the demo shop must be alone.
        settings = bench_settings(Path(scratch), f"sqlite+aiosqlite:///{scratch}/bench.db")
        url = settings.resolved_database_url
        await asyncio.to_thread(upgrade, url)
        await sync_policy(settings, url)
        await seed_demo(settings, products=PRODUCTS)
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                rows = await _run(http)
    print(f"{'measurement':48} {'median ms':>10} {'baseline ms':>12} {'ratio':>7}")
    for name, value, baseline in rows:
        print(f"{name:48} {value * 1000:10.1f} {baseline * 1000:12.1f} {value / baseline:7.2f}")


if __name__ == "__main__":  # python -m bench.listing
    asyncio.run(main())
