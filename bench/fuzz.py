"""Schema fuzzing: queries and mutations generated from ``schema.graphql`` by hypothesis-graphql,
sent over real HTTP to a server on 127.0.0.1 as every role, with the demo shop's header.

Whatever the input, the API must answer with a code the client can act on: a response that is
HTTP 5xx or carries an error with ``extensions.code == "INTERNAL"`` is a crash. The run prints
operations per role and per outcome, then every crash with its operation and the server's
trace, and exits non-zero if there was one (``make fuzz``; ``python -m bench.fuzz --help``).

The limits that throttle are raised for the run (see ``bench.fuzz_world.fuzz_settings``) so
they cannot hide a crash; the document limits stay as shipped.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import graphql
import httpx
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis_graphql import from_schema, nodes

from bench.fuzz_world import ROLES, Callers, CrashLog, prepared_database, running_server
from schema.node import encode_id

__all__ = [
    "OPERATIONS",
    "ROLES",
    "SEED",
    "Crash",
    "FuzzReport",
    "Operations",
    "Reach",
    "fuzz",
    "main",
]

OPERATIONS = 5000
SEED = 20261201
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "schema.graphql"
# Small primary keys of every type: with the objects the set-up made, most of them exist.
KNOWN_PKS = (1, 2, 3)
TIMEOUT_SECONDS = 30.0
# Strings of the shapes the domains expect (periods, currencies, codes, URLs, versions, e-mail
# addresses, countries, scopes), so that input gets past the first check and deeper in.
PLAUSIBLE_STRINGS = (
    "2026-11",
    "2026-12-01T00:00:00Z",
    "EUR",
    "USD",
    "standard",
    "express",
    "dhl",
    "DE",
    "US-CA",
    "10117",
    "1.0.0",
    "2.0.0",
    "https://app.example/callback",
    "http://127.0.0.1:9/hooks",
    "ann@example.com",
    "business@demo.agora.test",
    "goods:read",
    "trade:read",
    "webhooks",
    "fuzz-app",
    "accounting",
    "demo",
    "12.50",
    "0",
    "-1",
    "",
)


@dataclass(frozen=True)
class Crash:
    """One response that broke the promise: the operation, who sent it, and what came back."""

    role: str
    operation: str
    status: int
    body: str
    trace: str | None


@dataclass
class FuzzReport:
    """Counts per role and outcome, and the crashes."""

    outcomes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    kinds: Counter[str] = field(default_factory=Counter)
    fields: Counter[str] = field(default_factory=Counter)
    unreached: int = 0
    # Root fields each role got past the permission check of at least once.
    reached: dict[str, int] = field(default_factory=dict)
    crashes: list[Crash] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def total(self) -> int:
        return sum(sum(counts.values()) for counts in self.outcomes.values())

    def render(self) -> str:
        """Per role, then per outcome, then every crash in full."""
        lines = [
            f"{self.total} operations ({self.kinds['query']} queries,"
            f" {self.kinds['mutation']} mutations) in {self.seconds:.1f} s,"
            f" {len(self.fields)} root fields ({self.unreached} never generated)",
            "",
            f"{'role':18} {'operations':>10} {'fields reached':>15}",
        ]
        lines += [
            f"{role:18} {sum(counts.values()):10} {self.reached.get(role, 0):15}"
            for role, counts in sorted(self.outcomes.items())
        ]
        overall: Counter[str] = Counter()
        for counts in self.outcomes.values():
            overall.update(counts)
        lines += ["", f"{'outcome':40} {'count':>7}"]
        lines += [f"{outcome:40} {count:7}" for outcome, count in overall.most_common()]
        lines += ["", f"crashes (5xx or INTERNAL): {len(self.crashes)}"]
        for number, crash in enumerate(self.crashes, 1):
            lines += [
                f"--- crash {number}: {crash.role}, HTTP {crash.status}",
                crash.operation,
                f"response: {crash.body[:500]}",
                crash.trace or "(no trace logged)",
            ]
        return "\n".join(lines)


def _type_names(schema: graphql.GraphQLSchema) -> list[str]:
    return sorted(
        name
        for name, type_ in schema.type_map.items()
        if isinstance(type_, graphql.GraphQLObjectType) and not name.startswith("__")
    )


def _custom_scalars(schema: graphql.GraphQLSchema, ids: list[str]) -> dict[str, Any]:
    """Values for ID (mostly IDs of real or likely objects, sometimes junk) and for the custom
    scalars, which hypothesis-graphql cannot make up by itself."""
    likely = [str(encode_id(name, pk)) for name in _type_names(schema) for pk in KNOWN_PKS]
    junk = st.text(max_size=30)
    return {
        "String": st.one_of(st.text(), st.sampled_from(PLAUSIBLE_STRINGS)).map(nodes.String),
        "ID": st.one_of(st.sampled_from(ids), st.sampled_from(likely), junk).map(nodes.String),
        "Date": st.one_of(st.dates().map(str), junk).map(nodes.String),
        "DateTime": st.one_of(
            st.datetimes(timezones=st.none() | st.just(UTC)).map(datetime.isoformat), junk
        ).map(nodes.String),
        "JSON": st.one_of(
            st.text(max_size=20).map(nodes.String),
            st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
            st.booleans().map(nodes.Boolean),
            st.sampled_from(['{a: 1, b: "x"}', "{}", "[1, 2]", "{nested: {deep: [true]}}"]).map(
                graphql.parse_value
            ),
        ),
    }


# A root field refused (FORBIDDEN) this often to a role, and let through less often than that,
# is left out for that role, so that the operations go to code the role can actually reach.
REFUSALS_BEFORE_SKIP = 2
# Operations per Hypothesis run: between runs, the fields refused to the role are left out.
BATCH = 50


@dataclass
class Reach:
    """How often a role was refused each root field, and how often it got past the check."""

    refused: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)

    def open_fields(self, names: list[str]) -> list[str]:
        """Fields not yet refused often, or let through at least as often as refused (a
        refusal may be about the object, not the role)."""
        still = [
            name
            for name in names
            if self.refused[name] < REFUSALS_BEFORE_SKIP or self.passed[name] >= self.refused[name]
        ]
        return still or names

    def record(self, name: str, outcome: str) -> None:
        (self.refused if outcome == "FORBIDDEN" else self.passed)[name] += 1


class Operations:
    """Queries and mutations of the committed schema, each on one root field.

    One root field at a time keeps documents small (generation dominates the run's time) and
    spreads the operations evenly over the API instead of piling fields into each document.
    """

    def __init__(self, ids: list[str]) -> None:
        schema = graphql.build_schema(SCHEMA_FILE.read_text())
        scalars = _custom_scalars(schema, ids)
        roots = (schema.query_type, schema.mutation_type)
        self.names = sorted(name for root in roots if root for name in root.fields)
        self.per_field = {
            name: from_schema(schema, fields=[name], custom_scalars=scalars).map(
                partial(_named, name)
            )
            for name in self.names
        }

    def for_role(self, reach: Reach) -> st.SearchStrategy[tuple[str, str]]:
        """(root field, operation), drawn from the fields open to the role right now. Fixed
        once made (Hypothesis insists on strategies that do not change during a run), so each
        batch of a role's operations gets a new one."""
        return st.sampled_from(reach.open_fields(self.names)).flatmap(self.per_field.__getitem__)


def _named(name: str, operation: str) -> tuple[str, str]:
    return name, operation


def _outcome(response: httpx.Response) -> tuple[str, bool]:
    """A short name for what came back, and whether it is a crash."""
    try:
        body = response.json()
    except ValueError:
        body = None
    errors = body.get("errors") if isinstance(body, dict) else None
    codes = [
        str((error.get("extensions") or {}).get("code", "NO_CODE"))
        for error in errors or []
        if isinstance(error, dict)
    ]
    crashed = response.status_code >= 500 or "INTERNAL" in codes
    if response.status_code != 200:
        return f"HTTP {response.status_code} {codes[0] if codes else ''}".strip(), crashed
    if not codes:
        return "ok", crashed
    data = body.get("data") if isinstance(body, dict) else None
    partial = isinstance(data, dict) and any(value is not None for value in data.values())
    return ("data + " if partial else "") + codes[0], crashed


def _run_role(
    http: httpx.Client,
    callers: Callers,
    role: str,
    strategy: st.SearchStrategy[tuple[str, str]],
    run: tuple[int, int],
    report: FuzzReport,
    crashes: CrashLog,
    reach: Reach,
) -> None:
    """``run`` is (examples, seed)."""
    examples, run_seed = run
    headers = callers.headers(role)
    sent = 0

    @hypothesis_settings(
        max_examples=examples,
        deadline=None,
        database=None,
        # The seed below, not the CI profile's derandomize, which would repeat every batch.
        derandomize=False,
        # Generate only: a crash is recorded and the run goes on, nothing is shrunk.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @seed(run_seed)
    @given(strategy)
    def send(named: tuple[str, str]) -> None:
        nonlocal sent
        name, operation = named
        sent += 1
        request_id = f"fuzz-{role}-{run_seed}-{sent}"
        response = http.post(
            "/graphql",
            json={"query": operation},
            headers={**headers, "x-request-id": request_id},
        )
        outcome, crashed = _outcome(response)
        reach.record(name, outcome)
        report.outcomes[role][outcome] += 1
        report.kinds["mutation" if operation.lstrip().startswith("mutation") else "query"] += 1
        report.fields[name] += 1
        if crashed:
            trace = crashes.traces.get(request_id)
            report.crashes.append(
                Crash(role, operation, response.status_code, response.text, trace)
            )

    send()


def fuzz(operations_wanted: int = OPERATIONS, run_seed: int = SEED) -> FuzzReport:
    """At least ``operations_wanted`` operations, shared evenly between the roles."""
    report = FuzzReport()
    started = time.perf_counter()
    per_role = math.ceil(operations_wanted / len(ROLES))
    with (
        prepared_database() as (settings, seeded),
        running_server(settings) as (url, crashes),
        httpx.Client(base_url=url, timeout=TIMEOUT_SECONDS) as http,
    ):
        callers = Callers.sign_in(http, seeded)
        generated = Operations(callers.ids)
        for offset, role in enumerate(ROLES):
            reach = Reach()
            batch = 0
            while (done := sum(report.outcomes[role].values())) < per_role:
                run = (min(BATCH, per_role - done), run_seed + offset * 10_000 + batch)
                strategy = generated.for_role(reach)
                _run_role(http, callers, role, strategy, run, report, crashes, reach)
                batch += 1
            report.reached[role] = sum(1 for count in reach.passed.values() if count)
        report.unreached = len(set(generated.names) - set(report.fields))
    report.seconds = time.perf_counter() - started
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=OPERATIONS, help="at least this many")
    parser.add_argument("--seed", type=int, default=SEED, help="the same seed, the same run")
    args = parser.parse_args(argv)
    report = fuzz(args.operations, args.seed)
    print(report.render())
    return 1 if report.crashes else 0


if __name__ == "__main__":  # python -m bench.fuzz
    sys.exit(main())
