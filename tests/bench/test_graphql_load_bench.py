"""The load benchmark stays runnable, and its floor stays honest.

The floor is only a floor if it does the listing's work: the first test holds it to the very
same data as the GraphQL listing, product for product. The second runs the whole benchmark
tiny (SQLite only, a second per endpoint; figures not checked), installing ``wrk`` through the
bench's own helper, so `make bench` does not rot.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import graphql_load
from bench.settings import bench_settings


@pytest.mark.anyio
async def test_floor_answers_the_same_data_as_the_graphql_listing(tmp_path: Path) -> None:
    settings = bench_settings(tmp_path, f"sqlite+aiosqlite:///{tmp_path}/floor.db")
    await graphql_load.prepare(settings, 70)  # more than a page of active products

    graphql, floor = await graphql_load.answers(settings)

    assert "errors" not in graphql, graphql
    products = graphql["data"]["products"]
    assert len(products["edges"]) == graphql_load.PAGE_SIZE
    assert products["pageInfo"] == {"hasNextPage": True}
    assert all(edge["node"]["variants"] for edge in products["edges"])
    assert floor["data"] == graphql["data"]


def test_parse_wrk_reads_rate_latencies_and_failures() -> None:
    output = """
  Latency Distribution
     50%    3.21ms
     75%    4.00ms
     90%  850.00us
     99%    1.20s
  1234 requests in 2.00s, 5.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    617.25
"""
    result = graphql_load.parse_wrk(output)
    assert (result.rps, result.p50_ms, result.p99_ms, result.failures) == (617.25, 3.21, 1200, 7)


def test_load_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert graphql_load.ensure_wrk(), "wrk is neither installed nor installable"
    monkeypatch.setattr(graphql_load, "PRODUCTS", 60)
    monkeypatch.setattr(graphql_load, "DURATION_S", 1)
    monkeypatch.setattr(graphql_load, "ROUNDS", 1)
    graphql_load.main(postgres=False)
    printed = capsys.readouterr().out
    assert "(a) GraphQL listing" in printed and "(c) floor" in printed
    assert "ratio (a)/(c) RPS" in printed
