"""Per-endpoint circuit breakers, kept in the database so every dispatcher sees the same one.

Closed: deliveries go. After ``breaker_failures`` failures in a row the circuit opens: the
endpoint's deliveries stay queued (they are not even claimed, so they spend no attempts)
until ``retry_at``. Then one delivery is let through as a probe and the circuit is half-open
until its answer: a success closes it, a failure opens it again for another cooldown. A probe
whose dispatcher died is replaced once its lease has run out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import dialect_insert
from app.events.models import CircuitState, EndpointCircuit
from app.events.policy import DeliveryPolicy

__all__ = ["Gate", "blocked_endpoints", "open_gates", "record_outcomes"]


@dataclass(frozen=True, slots=True)
class Gate:
    """How many of an endpoint's due deliveries may go now, and how many failures it has."""

    allowance: int | None  # None: no limit
    failures: int
    probe: bool = False


def blocked_endpoints(now: datetime) -> Select[tuple[str]]:
    """A subquery of endpoints whose deliveries may not be claimed at all right now."""
    return select(EndpointCircuit.endpoint_key).where(
        and_(EndpointCircuit.state != CircuitState.CLOSED, EndpointCircuit.retry_at > now)
    )


async def _locked(session: AsyncSession, keys: Iterable[str]) -> dict[str, EndpointCircuit]:
    """The circuits of ``keys``, created closed where missing, locked in key order (two
    dispatchers then lock in the same order and cannot deadlock)."""
    ordered = sorted(set(keys))
    if not ordered:
        return {}
    insert = dialect_insert(session, EndpointCircuit)
    await session.execute(
        insert.values(
            [{"endpoint_key": key, "consecutive_failures": 0} for key in ordered]
        ).on_conflict_do_nothing(index_elements=[EndpointCircuit.endpoint_key])
    )
    rows = await session.scalars(
        select(EndpointCircuit)
        .where(EndpointCircuit.endpoint_key.in_(ordered))
        .order_by(EndpointCircuit.endpoint_key)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.endpoint_key: row for row in rows}


async def open_gates(
    session: AsyncSession, keys: Iterable[str], now: datetime, policy: DeliveryPolicy
) -> dict[str, Gate]:
    """Decide, under lock, what each endpoint may receive in this claim."""
    gates = {}
    for key, circuit in (await _locked(session, keys)).items():
        if circuit.state is CircuitState.CLOSED:
            gates[key] = Gate(allowance=None, failures=circuit.consecutive_failures)
        elif circuit.retry_at is not None and circuit.retry_at <= now:
            circuit.state = CircuitState.HALF_OPEN
            circuit.retry_at = now + policy.lease
            circuit.updated_at = now
            gates[key] = Gate(allowance=1, failures=circuit.consecutive_failures, probe=True)
        else:
            gates[key] = Gate(allowance=0, failures=circuit.consecutive_failures)
    return gates


async def record_outcomes(
    session: AsyncSession,
    outcomes: Mapping[str, Sequence[bool]],
    now: datetime,
    policy: DeliveryPolicy,
) -> dict[str, CircuitState]:
    """Apply each endpoint's results, in the order they happened; the states that follow."""
    states = {}
    for key, circuit in (await _locked(session, outcomes)).items():
        results = outcomes[key]
        if not results:
            states[key] = circuit.state
            continue
        if any(results):
            last_success = len(results) - 1 - list(reversed(results)).index(True)
            failures = len(results) - 1 - last_success
            if circuit.state is not CircuitState.CLOSED:
                circuit.state = CircuitState.CLOSED
                circuit.retry_at = None
        else:
            failures = circuit.consecutive_failures + len(results)
        circuit.consecutive_failures = failures
        circuit.updated_at = now
        tripped = failures >= policy.breaker_failures
        if (circuit.state is CircuitState.HALF_OPEN and not results[-1]) or (
            circuit.state is CircuitState.CLOSED and tripped
        ):
            circuit.state = CircuitState.OPEN
            circuit.opened_at = now
            circuit.retry_at = now + policy.breaker_cooldown
        states[key] = circuit.state
    return states
