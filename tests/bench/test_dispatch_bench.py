"""The dispatch benchmark still runs (tiny sizes, figures not checked): `make bench` must not
rot."""

from __future__ import annotations

import pytest

from bench import dispatch


@pytest.mark.anyio
async def test_dispatch_benchmark_runs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(dispatch, "EVENTS", 20)
    monkeypatch.setattr(dispatch, "ROUNDS", 1)
    await dispatch.main()
    printed = capsys.readouterr().out
    assert "dispatcher vs plain httpx loop" in printed
    assert "20 events per round" in printed
