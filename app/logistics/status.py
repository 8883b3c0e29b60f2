"""The shipment state machine: which status may follow which, and what an event does.

Carriers skip states (a parcel can go from label_created straight to delivered), so any forward
move is legal. EXCEPTION is a detour a parcel may come back from. DELIVERED, RETURNED and
CANCELLED end the journey, and a parcel can be cancelled only before it was picked up.

Events arrive late and out of order, so a parcel's status is not the last event that arrived
but the end of its timeline: ``replay`` walks every event in the order things happened, taking
each legal step and skipping the rest. An event that arrives late therefore lands where it
belongs (and never moves the status back), one that overtook another is applied once the other
arrives, and the same events always end in the same status, whatever order they came in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from app.logistics.shipment_models import ShipmentStatus

__all__ = ["FINAL", "EventEffect", "Replayed", "TimelineEvent", "effect_of", "is_legal", "replay"]

S = ShipmentStatus
_PROGRESS = {
    S.LABEL_CREATED: 0,
    S.PICKED_UP: 1,
    S.IN_TRANSIT: 2,
    S.OUT_FOR_DELIVERY: 3,
    S.DELIVERED: 4,
}
FINAL = frozenset({S.DELIVERED, S.RETURNED, S.CANCELLED})
_AFTER_EXCEPTION = frozenset({S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED, S.RETURNED})


def is_legal(current: ShipmentStatus, new: ShipmentStatus) -> bool:
    if current in FINAL or new in (S.UNKNOWN, current):
        return False
    if new is S.CANCELLED:
        return current is S.LABEL_CREATED
    if new is S.EXCEPTION:
        return True
    if current is S.EXCEPTION:
        return new in _AFTER_EXCEPTION
    if new is S.RETURNED:
        return current is not S.LABEL_CREATED
    return _PROGRESS[new] > _PROGRESS[current]


class EventEffect(enum.StrEnum):
    APPLIED = "APPLIED"  # the status moves
    TIMELINE_ONLY = "TIMELINE_ONLY"  # recorded, status unchanged (older, unknown, repeated)
    ILLEGAL = "ILLEGAL"  # refused: a later event that no legal transition allows


def effect_of(
    current: ShipmentStatus, current_at: datetime, new: ShipmentStatus, occurred_at: datetime
) -> EventEffect:
    """What one event does to a parcel last seen in ``current`` since ``current_at``."""
    if new is S.UNKNOWN or occurred_at < current_at:
        return EventEffect.TIMELINE_ONLY
    if new is current:
        return EventEffect.APPLIED  # a newer report of the same status: its time counts
    return EventEffect.APPLIED if is_legal(current, new) else EventEffect.ILLEGAL


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    key: int
    status: ShipmentStatus
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Replayed:
    status: ShipmentStatus
    status_at: datetime
    delivered_at: datetime | None
    applied: frozenset[int] = field(default_factory=frozenset)


def replay(events: Iterable[TimelineEvent], label_at: datetime) -> Replayed:
    """The parcel's status at the end of its timeline, and which events are steps of it."""
    current, since, delivered_at = S.LABEL_CREATED, label_at, None
    applied = set()
    for event in sorted(events, key=lambda e: (e.occurred_at, e.key)):
        if event.status is current:
            applied.add(event.key)
            since = max(since, event.occurred_at)
        elif is_legal(current, event.status):
            applied.add(event.key)
            current, since = event.status, event.occurred_at
            delivered_at = event.occurred_at if current is S.DELIVERED else delivered_at
    return Replayed(current, since, delivered_at, frozenset(applied))
