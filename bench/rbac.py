"""RBAC enforcement as policy grows: p99 of a check at 25,000 rules against a 50-rule baseline.

Both enforcers load the same shipped baseline plus generated per-shop rules. Agora's enforcer
indexes rules by (object, action); the plain Casbin enforcer is printed beside it to show what
that index saves (a denied check must otherwise scan every rule).
"""

from __future__ import annotations

import random
import time

import casbin
from casbin import persist
from casbin.util import key_match

from app.security.rbac import baseline_rules, new_enforcer

CHECKS = 2000
MODEL = "app/security/model.conf"


def _load(enforcer: casbin.Enforcer, extra: int) -> casbin.Enforcer:
    rng = random.Random(7)
    model = enforcer.get_model()
    for rule in baseline_rules():
        persist.load_policy_line(", ".join(rule), model)
    for index in range(extra):
        role = rng.choice(["business", "developer", "ops", "finance"])
        persist.load_policy_line(f"p, {role}, shop:{index}, report_{index % 400}, read", model)
    enforcer.get_role_manager().add_domain_matching_func(key_match)
    enforcer.build_role_links()
    return enforcer


def _p99(enforcer: casbin.Enforcer) -> float:
    rng = random.Random(11)
    checks = [
        ("owner", "partner:7", "listing", "write"),  # allowed through role inheritance
        ("business", "shop:3", "catalog", "write"),  # allowed
        ("developer", "shop:3", "catalog", "write"),  # denied: every candidate rule is read
        ("shopper", "shop:9", "refund", "write"),  # denied
    ]
    samples = []
    for _ in range(CHECKS):
        request = rng.choice(checks)
        started = time.perf_counter()
        enforcer.enforce(*request)
        samples.append(time.perf_counter() - started)
    samples.sort()
    return samples[int(len(samples) * 0.99)]


def main() -> None:
    baseline_rules_count = len(baseline_rules())
    small = 50 - baseline_rules_count
    rows = []
    for name, make in (
        ("agora (indexed)", new_enforcer),
        ("plain casbin", lambda: casbin.Enforcer(MODEL)),
    ):
        base = _p99(_load(make(), max(0, small)))
        large = _p99(_load(make(), 25_000))
        rows.append((name, large, base))
    print(f"{'enforcer':18} {'p99 @25k µs':>12} {'p99 @50 µs':>11} {'ratio':>7}")
    for name, large, base in rows:
        print(f"{name:18} {large * 1e6:12.0f} {base * 1e6:11.0f} {large / base:7.2f}")


if __name__ == "__main__":  # python -m bench.rbac
    main()
