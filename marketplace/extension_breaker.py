"""The circuit breaker in front of each extension endpoint, kept in process.

Closed, calls go. After ``failures`` failures in a row the circuit opens for ``cooldown``:
calls are refused at once, without touching the network. When the cooldown has passed,
exactly one call is let through as a probe (half-open); every other call is still refused
while it runs. The probe's success closes the circuit, its failure opens it for another
cooldown.

Why in process, unlike the webhook breaker (``app/events/circuits.py``, in the database):
an extension is called on the shopper's request path, synchronously, for every cart read and
checkout. A shared breaker would cost a database or Redis round trip before every call and a
write after every outcome, on exactly the path the breaker exists to keep fast. Kept per
worker, each worker learns on its own that an endpoint is down, so a dead endpoint costs at
most ``failures`` timeouts per worker per cooldown: a bounded price, and the trade the
synchronous path wants. Webhook deliveries, by contrast, are queued work claimed by many
dispatchers, which need one shared view to stop claiming.

Time comes from an injected clock (the app's clock), so tests open and close circuits
without sleeping.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Admission", "CircuitBreakers"]


class Admission(enum.Enum):
    CALL = "call"  # closed: call
    PROBE = "probe"  # half-open: this call is the one probe
    REFUSED = "refused"  # open, or half-open with the probe under way
    REFUSED_FIRST = "refused_first"  # refused, and the first refusal of this open period


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    open_until: datetime | None = None
    probing: bool = False
    # Whether a refusal was already reported in the current open period.
    reported: bool = False


class CircuitBreakers:
    """One circuit per endpoint key; safe within one event loop (no awaits inside)."""

    def __init__(
        self, *, failures: int, cooldown: timedelta, clock: Callable[[], datetime]
    ) -> None:
        if failures < 1:
            raise ValueError("a breaker opens after at least one failure")
        self.failures = failures
        self.cooldown = cooldown
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def admit(self, key: str) -> Admission:
        circuit = self._circuits.get(key)
        if circuit is None or circuit.open_until is None:
            return Admission.CALL
        if self._clock() >= circuit.open_until and not circuit.probing:
            circuit.probing = True
            return Admission.PROBE
        if circuit.reported:
            return Admission.REFUSED
        circuit.reported = True
        return Admission.REFUSED_FIRST

    def succeeded(self, key: str) -> None:
        # A closed circuit with no failures is the default: forget it, so the table only
        # holds endpoints that are failing.
        self._circuits.pop(key, None)

    def failed(self, key: str) -> None:
        circuit = self._circuits.setdefault(key, _Circuit())
        circuit.failures += 1
        if circuit.probing or circuit.failures >= self.failures:
            circuit.open_until = self._clock() + self.cooldown
            circuit.probing = False
            circuit.reported = False

    def abandoned(self, key: str) -> None:
        """The call was cancelled before it had an outcome: free the probe slot, if it held
        it, so the circuit cannot stay half-open forever."""
        circuit = self._circuits.get(key)
        if circuit is not None:
            circuit.probing = False

    def is_open(self, key: str) -> bool:
        circuit = self._circuits.get(key)
        return circuit is not None and circuit.open_until is not None
