"""What the comparison gate reads of an events file (rollout/known.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from rollout.known import EventsFileError, read_known


def event(kind: str, **data: object) -> bytes:
    return orjson.dumps(
        {
            "specversion": "1.0",
            "id": f"e-{kind}-{hash(str(data))}",
            "source": "/t",
            "type": kind,
            "data": data,
        }
    )


def exercise(i: int, revision: int = 1, name: str | None = None) -> bytes:
    return event(
        "fitness.exercise.upserted", id=i, name=name or f"Ex {i}", difficulty=1,
        revision=revision, default_weight=10.0, default_reps=5, muscle_groups=[],
    )  # fmt: skip


def workout(workout_id: str, user: object, at: str, *ids: int) -> bytes:
    return event(
        "fitness.workout.completed", workout_id=workout_id, user_id=user, completed_at=at,
        exercises=[{"exercise_id": i, "sets": 1, "reps": 5, "weight": 10.0} for i in ids],
    )  # fmt: skip


NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def test_the_catalog_is_folded_by_revision():
    """A later revision renames; an older one changes nothing; a delete removes."""
    known = read_known([
        exercise(1), exercise(2), exercise(1, 3, "Renamed"), exercise(1, 2, "Older"), b"",
        event("fitness.exercise.deleted", id=2, revision=2), exercise(2, 1, "Back?"),
    ])  # fmt: skip
    assert {i: e.name for i, e in known.catalog.items()} == {1: "Renamed"}


def test_done_yesterday_in_the_zone_without_deleted_or_erased_workouts():
    """Yesterday is the zone's calendar day; deleted workouts and erased users count for
    nothing; a user id given as a number is the same user as its text."""
    known = read_known([
        workout("w1", 7, "2026-11-30T12:00:00+00:00", 1, 2),
        workout("w2", "7", "2026-11-30T23:30:00+00:00", 3),
        workout("w3", 7, "2026-11-30T10:00:00+00:00", 4),
        event("fitness.workout.deleted", workout_id="w3", user_id=7),
        workout("w4", 7, "2026-11-29T12:00:00+00:00", 5),
        workout("w5", 8, "2026-11-30T12:00:00+00:00", 6),
        event("fitness.user.erased", user_id=8),
    ])  # fmt: skip
    assert known.done_yesterday("7", NOW, "UTC") == {1, 2, 3}
    assert known.done_yesterday("7", NOW, "Asia/Tokyo") == {1, 2}  # 23:30 UTC is Dec 1 there
    assert known.done_yesterday("8", NOW, "UTC") == frozenset()
    assert known.done_yesterday("9", NOW, "UTC") == frozenset()


def test_a_line_that_is_no_event_is_refused_with_its_number():
    with pytest.raises(EventsFileError, match="line 2"):
        read_known([exercise(1), b'{"type": "nope"}'])
