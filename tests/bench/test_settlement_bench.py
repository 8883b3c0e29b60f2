"""The settlement benchmark still runs (tiny sizes, SQLite only, figures not checked): `make
bench` must not rot, and its seeding must keep matching what postings and settlement expect
(the benchmark checks every round's statements against the seeded ledger itself)."""

from __future__ import annotations

import pytest

from bench import settlement


@pytest.mark.anyio
async def test_settlement_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(settlement, "SIZES", (200, 400))
    monkeypatch.setattr(settlement, "PARTNERS", 7)
    monkeypatch.setattr(settlement, "ROUNDS", 2)
    await settlement.main(["--no-postgres"])
    printed = capsys.readouterr().out
    assert "-- SQLite: 7 partners" in printed
    assert "ratio" in printed and "us/charge" in printed
    rows = [
        line.split() for line in printed.splitlines() if line.strip().startswith(("200", "400"))
    ]
    assert [row[0] for row in rows] == ["200", "400"]
    assert rows[0][4] == "1.00"  # the smallest size is the baseline
    assert "-- PostgreSQL: skipped" in printed
