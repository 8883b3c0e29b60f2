"""Every series an alert rule reads is one Agora defines: a renamed metric must not leave an
alert that silently never fires. (promtool checks the rules' syntax: ``make check-alerts``.)"""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY

import app.observability.metrics  # noqa: F401 - registers every series

ALERTS = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "alerts.yml"
NAME = re.compile(r"\bagora_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def _exported_names() -> set[str]:
    return {
        family.name + suffix
        for family in REGISTRY.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def _expressions() -> list[str]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule["expr"] for group in groups for rule in group["rules"]]


def test_alert_rules_read_only_series_agora_exports() -> None:
    used = {name for expr in _expressions() for name in NAME.findall(expr)}
    assert used, "no agora_* series in the alert rules"
    assert used <= _exported_names(), used - _exported_names()


def test_the_required_alerts_exist() -> None:
    text = " ".join(_expressions())
    for series in (
        "agora_http_responses_total",  # error rate
        "agora_graphql_request_duration_seconds_bucket",  # p99 latency
        "agora_outbox_lag_seconds",
        "agora_payout_failures_total",
        "agora_rate_limit_fallback_active",
    ):
        assert series in text
