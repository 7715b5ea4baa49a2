"""What the comparison gate knows of the data both sides serve: the catalog and each user's
completed workouts, read from a file of JSON lines of CloudEvents (what `coach demo-data`
writes and `coach publish` sends; the monolith's own events in production).

The catalog is folded the way the consumer folds it (an upsert or delete counts only with a
higher revision); a workout counts unless deleted or its user erased. Pure once read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

import msgspec

from events.models import (
    ExerciseDeletedEvent,
    ExerciseUpsertedEvent,
    UserErasedEvent,
    WorkoutCompletedEvent,
    WorkoutDeletedEvent,
)
from wod.day import yesterday
from wod.instants import to_us

_DECODER = msgspec.json.Decoder(
    ExerciseUpsertedEvent
    | ExerciseDeletedEvent
    | WorkoutCompletedEvent
    | WorkoutDeletedEvent
    | UserErasedEvent
)


class EventsFileError(ValueError):
    """A line of the events file that is not one of the contract's events."""


@dataclass(frozen=True, slots=True)
class CatalogExercise:
    id: int
    name: str


@dataclass
class Known:
    """The catalog (id -> exercise) and, per user id (text), their workouts:
    workout id -> (completed at, epoch µs; the exercise ids done)."""

    catalog: dict[int, CatalogExercise] = field(default_factory=dict)
    workouts: dict[str, dict[str, tuple[int, frozenset[int]]]] = field(default_factory=dict)

    def done_yesterday(self, user_id: str, now: datetime, zone: str) -> frozenset[int]:
        """The exercises `user_id` completed on the day before `now`'s day in `zone`."""
        day = yesterday(now, ZoneInfo(zone))
        return frozenset(
            exercise_id
            for completed_us, exercises in self.workouts.get(user_id, {}).values()
            if day.start_us <= completed_us < day.end_us
            for exercise_id in exercises
        )


def read_known(lines: Iterable[bytes]) -> Known:
    """Fold the events of `lines` (blank lines skipped) into what the gate knows."""
    known = Known()
    revisions: dict[int, int] = {}
    deleted: set[tuple[str, str]] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            event = _DECODER.decode(line)
        except msgspec.DecodeError as exc:
            raise EventsFileError(f"line {number}: {exc}") from None
        data = event.data
        if isinstance(event, ExerciseUpsertedEvent | ExerciseDeletedEvent):
            if data.revision <= revisions.get(data.id, -1):
                continue
            revisions[data.id] = data.revision
            if isinstance(event, ExerciseUpsertedEvent):
                known.catalog[data.id] = CatalogExercise(data.id, data.name)
            else:
                known.catalog.pop(data.id, None)
        elif isinstance(event, WorkoutCompletedEvent):
            user, workout = str(data.user_id), data.workout_id
            if (user, workout) not in deleted:
                exercises = frozenset(e.exercise_id for e in data.exercises)
                known.workouts.setdefault(user, {})[workout] = (to_us(data.completed_at), exercises)
        elif isinstance(event, WorkoutDeletedEvent):
            user = str(data.user_id)
            deleted.add((user, data.workout_id))
            known.workouts.get(user, {}).pop(data.workout_id, None)
        else:
            known.workouts.pop(str(data.user_id), None)
    return known
