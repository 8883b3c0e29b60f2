"""The shipment state machine (``app.logistics.status``): which moves are legal, what a late or
unknown event does, and, as properties, that the order events arrive in never changes where a
parcel ends up and never moves it back."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.logistics.shipment_models import ShipmentStatus
from app.logistics.status import FINAL, EventEffect, TimelineEvent, effect_of, is_legal
from app.logistics.status import replay as replay_timeline

S = ShipmentStatus
LC, PU, TR, OD, DL = S.LABEL_CREATED, S.PICKED_UP, S.IN_TRANSIT, S.OUT_FOR_DELIVERY, S.DELIVERED
EX, RT, CX, UNKNOWN = S.EXCEPTION, S.RETURNED, S.CANCELLED, S.UNKNOWN
JOURNEY = (LC, PU, TR, OD, DL)
MAPPABLE = tuple(s for s in S if s is not UNKNOWN)
T0 = datetime(2030, 1, 1, 9, 0, tzinfo=UTC)
SETTINGS = settings(max_examples=300, deadline=None, database=None, derandomize=True)

Event = tuple[ShipmentStatus, datetime]


def at(minutes: int) -> datetime:
    return T0 + timedelta(minutes=minutes)


def replay(events: Sequence[Event]) -> list[Event]:
    """The parcel's (status, status time) after each arrival, as the tracking code decides it:
    the whole timeline received so far replayed in time order, except that a parcel in a final
    state stays there."""
    states: list[Event] = []
    for received in range(1, len(events) + 1):
        timeline = [
            TimelineEvent(i, status, occurred)
            for i, (status, occurred) in enumerate(events[:received])
            if status is not UNKNOWN
        ]
        result = replay_timeline(timeline, T0)
        if states and states[-1][0] in FINAL and result.status is not states[-1][0]:
            states.append(states[-1])
        else:
            states.append((result.status, result.status_at))
    return states


def final(events: Sequence[Event]) -> ShipmentStatus:
    states = replay(events)
    return states[-1][0] if states else LC


# --- Legal moves ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "new"),
    [(a, b) for i, a in enumerate(JOURNEY) for b in JOURNEY[i + 1 :]],
)
def test_every_forward_move_is_legal_skips_included(
    current: ShipmentStatus, new: ShipmentStatus
) -> None:
    assert is_legal(current, new)
    assert not is_legal(new, current)  # and never back


def test_a_parcel_can_be_cancelled_only_before_it_is_picked_up() -> None:
    assert is_legal(LC, CX)
    assert [s for s in (PU, TR, OD, EX) if is_legal(s, CX)] == []


def test_an_exception_is_a_detour_the_parcel_comes_back_from() -> None:
    assert all(is_legal(s, EX) for s in (LC, PU, TR, OD))
    assert [s for s in MAPPABLE if is_legal(EX, s)] == [TR, OD, DL, RT]


def test_a_parcel_is_returned_only_once_it_was_picked_up() -> None:
    assert [s for s in MAPPABLE if is_legal(s, RT)] == [PU, TR, OD, EX]


@pytest.mark.parametrize("end", sorted(FINAL))
def test_delivered_returned_and_cancelled_are_final(end: ShipmentStatus) -> None:
    assert [s for s in S if is_legal(end, s)] == []
    assert effect_of(end, at(0), EX, at(5)) is EventEffect.ILLEGAL


@pytest.mark.parametrize("status", list(S))
def test_nothing_moves_to_its_own_status_or_to_unknown(status: ShipmentStatus) -> None:
    assert not is_legal(status, status)
    assert not is_legal(status, UNKNOWN)


# --- What an event does --------------------------------------------------------------------


def test_a_later_legal_event_applies_and_a_later_illegal_one_is_refused() -> None:
    assert effect_of(TR, at(10), DL, at(20)) is EventEffect.APPLIED
    assert effect_of(TR, at(10), CX, at(20)) is EventEffect.ILLEGAL
    assert effect_of(DL, at(10), PU, at(20)) is EventEffect.ILLEGAL


@pytest.mark.parametrize("current", [LC, PU, OD, EX, DL, CX])
def test_an_unknown_code_never_applies(current: ShipmentStatus) -> None:
    assert effect_of(current, at(10), UNKNOWN, at(20)) is EventEffect.TIMELINE_ONLY


@pytest.mark.parametrize("new", [LC, PU, TR, DL, EX, CX, RT])
def test_an_event_older_than_the_status_only_joins_the_timeline(new: ShipmentStatus) -> None:
    """Even one that would be illegal now: it happened before, so it is history, not news."""
    assert effect_of(OD, at(10), new, at(9)) is EventEffect.TIMELINE_ONLY


def test_a_repeat_of_the_current_status_is_neither_refused_nor_a_change() -> None:
    assert effect_of(TR, at(10), TR, at(20)) is not EventEffect.ILLEGAL
    assert effect_of(TR, at(10), TR, at(5)) is EventEffect.TIMELINE_ONLY
    assert final([(TR, at(10)), (TR, at(20))]) is TR


# --- Late arrival never changes where a parcel ends up --------------------------------------


def test_a_late_exception_does_not_undo_a_newer_delivery_attempt() -> None:
    """Out for delivery, nobody home, out for delivery again: the exception scan comes last."""
    assert final([(OD, at(10)), (OD, at(30)), (EX, at(20))]) is OD


def test_an_event_that_overtook_its_detour_is_not_lost() -> None:
    """Out for delivery, exception, back in transit; the transit scan overtakes the exception.
    Alone it is no legal step, but once the exception arrives the timeline explains it."""
    assert final([(OD, at(10)), (TR, at(30)), (EX, at(20))]) is TR


def test_a_return_that_overtook_the_pick_up_is_not_lost() -> None:
    assert final([(RT, at(30)), (PU, at(10))]) is RT


# --- Properties ----------------------------------------------------------------------------


@st.composite
def forward_journeys(draw: st.DrawFn) -> list[Event]:
    """A journey along the happy path, skipping any steps, at increasing times."""
    steps = draw(st.lists(st.sampled_from(JOURNEY[1:]), unique=True))
    steps.sort(key=JOURNEY.index)
    gaps = draw(st.lists(st.integers(1, 600), min_size=len(steps), max_size=len(steps)))
    minutes = [sum(gaps[: i + 1]) for i in range(len(steps))]
    return [(status, at(m)) for status, m in zip(steps, minutes, strict=True)]


@st.composite
def legal_journeys(draw: st.DrawFn) -> list[Event]:
    """Any journey whose every step, taken in time order, is a legal move (detours, returns
    and cancellations included), at increasing times."""
    current, minute, events = LC, 0, []
    for _ in range(draw(st.integers(0, 8))):
        choices = [s for s in MAPPABLE if is_legal(current, s)]
        if not choices:
            break
        current = draw(st.sampled_from(choices))
        minute += draw(st.integers(1, 600))
        events.append((current, at(minute)))
    return events


@SETTINGS
@given(st.data())
def test_a_forward_journey_ends_the_same_in_any_arrival_order_and_never_goes_back(
    data: st.DataObject,
) -> None:
    journey = data.draw(forward_journeys())
    arrival = data.draw(st.permutations(journey))
    assert final(arrival) == final(journey) == (journey[-1][0] if journey else LC)
    states = [(LC, T0), *replay(arrival)]
    ranks = [JOURNEY.index(status) for status, _ in states]
    assert ranks == sorted(ranks)
    assert [since for _, since in states] == sorted(since for _, since in states)
    assert all(
        effect_of(*states[i], *arrival[i]) is not EventEffect.ILLEGAL for i in range(len(arrival))
    )


@SETTINGS
@given(st.data())
def test_any_legal_journey_ends_the_same_in_any_arrival_order(data: st.DataObject) -> None:
    journey = data.draw(legal_journeys())
    assert all(e is not EventEffect.ILLEGAL for e in _effects(journey))
    arrival = data.draw(st.permutations(journey))
    assert final(arrival) == final(journey), arrival


def _effects(events: Sequence[Event]) -> list[EventEffect]:
    states = [(LC, T0), *replay(events)]
    return [effect_of(*states[i], *events[i]) for i in range(len(events))]


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(list(S)), st.integers(0, 6000).map(at)), max_size=12))
def test_whatever_arrives_the_status_never_moves_back_nor_leaves_a_final_state(
    events: list[Event],
) -> None:
    """A carrier's late word never takes a parcel back along its journey, and a parcel that
    reached a final state stays there."""
    states = [(LC, T0), *replay(events)]
    assert UNKNOWN not in {status for status, _ in states}
    for (before, _), (after, _) in itertools.pairwise(states):
        assert before not in FINAL or after is before
        if before in JOURNEY and after in JOURNEY:
            assert JOURNEY.index(after) >= JOURNEY.index(before)
