"""The shipment state machine: which status may follow which, and what an event does.

Carriers skip states (a parcel can go from label_created straight to delivered), so any forward
move is legal. EXCEPTION is a detour a parcel may come back from. DELIVERED, RETURNED and
CANCELLED end the journey, and a parcel can be cancelled only before it was picked up.

Events arrive late and out of order. One that happened before the event behind the current
status takes its place in the timeline and changes nothing; a later one moves the status only
along a legal transition.
"""

from __future__ import annotations

import enum
from datetime import datetime

from app.logistics.shipment_models import ShipmentStatus

__all__ = ["FINAL", "EventEffect", "effect_of", "is_legal"]

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
    if new is S.UNKNOWN or occurred_at < current_at or new is current:
        return EventEffect.TIMELINE_ONLY
    return EventEffect.APPLIED if is_legal(current, new) else EventEffect.ILLEGAL
