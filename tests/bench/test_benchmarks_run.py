"""The benchmarks still run (tiny sizes, figures not checked): `make bench` must not rot."""

from __future__ import annotations

import pytest

from bench import listing, rbac


def test_rbac_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rbac, "CHECKS", 20)
    rbac.main()
    printed = capsys.readouterr().out
    assert "agora (indexed)" in printed and "plain casbin" in printed


@pytest.mark.anyio
async def test_listing_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(listing, "PRODUCTS", 60)
    monkeypatch.setattr(listing, "ROUNDS", 1)
    await listing.main()
    printed = capsys.readouterr().out
    assert "keyset page" in printed and "first: 100" in printed
