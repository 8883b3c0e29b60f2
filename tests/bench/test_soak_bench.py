"""The soak still runs (a few seconds, figures not checked): `make soak` must not rot, and its
summary keeps the lines operators read (requests per kind, errors, RSS at warm-up and end)."""

from __future__ import annotations

import re

import pytest

from bench import soak


def test_soak_runs_and_prints_its_summary(capsys: pytest.CaptureFixture[str]) -> None:
    soak.main(["--seconds", "3", "--concurrency", "4"])
    printed = capsys.readouterr().out
    for pattern in (
        r"soak: 3 s at concurrency 4",
        r"requests: \d+ \(\d+/s\)",
        r"listing +\d+",
        r"product detail +\d+",
        r"cart create +\d+",
        r"cart add lines +\d+",
        r"business orders +\d+",
        r"marketplace +\d+",
        r"errors: \d+",
        r"rss at 1 s: [\d.]+ MiB",
        r"rss at end: [\d.]+ MiB",
        r"rss growth: [+-][\d.]+ % \(limit 10 %\)",
        r"^(PASS|FAIL)$",
    ):
        assert re.search(pattern, printed, re.MULTILINE), (pattern, printed)
