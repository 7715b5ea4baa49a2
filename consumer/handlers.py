"""One small handler per event type: it turns a validated event into row changes.

Row shapes come from pure functions (`exercise_rows`, `workout_row`), so the mapping can be
tested without SQLite. Completed workouts, the bulk of the stream, are not handled one by
one: `apply` collects a run of them with `workout_row` and stores the run in one statement.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from msgspec.structs import astuple

from events import EXERCISE_DELETED, EXERCISE_UPSERTED, USER_ERASED, WORKOUT_DELETED
from events.codec import TOMBSTONE
from events.erasure_time import last_us_of_ms
from events.models import Exercise, ExerciseDeleted, UserErased, WorkoutCompleted, WorkoutDeleted
from store import erasure, writes
from store.rows import ExerciseRow, ImpactRow, WorkoutRow, encode_exercises
from wod.instants import to_us

log = logging.getLogger(__name__)

ERASURE_KEY_MISMATCHES = "erasure_key_mismatches"
"""The `meta` counter of erasures whose record key was not their user id (an alert)."""


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may need besides the event: the clock, read once per batch (only for
    what records when coach did something, never for what a row holds), and the record's
    own Kafka timestamp (part of the topic: a replay sees the same)."""

    now_us: int
    record_at_us: int | None = None
    erased_at_us: int | None = None
    """An erasure's instant from its own `time` (events/erasure_time.py), if it has one."""

    def for_record(self, timestamp_ms: int | None, *, erased_at_us: int | None = None) -> Context:
        return Context(
            self.now_us, None if timestamp_ms is None else timestamp_ms * 1000, erased_at_us
        )

    @property
    def erasure_at_us(self) -> int:
        """When an erasure happened, as its last possible microsecond: its own `time`, else
        the last microsecond of the record's Kafka timestamp, else the clock."""
        if self.erased_at_us is not None:
            return self.erased_at_us
        if self.record_at_us is not None:
            return last_us_of_ms(self.record_at_us // 1000)
        return self.now_us

    @property
    def event_at_us(self) -> int:
        """The record's timestamp; the clock only for a record without one (no broker since
        Kafka 0.10 writes those)."""
        return self.now_us if self.record_at_us is None else self.record_at_us


Handler = Callable[[sqlite3.Connection, Any, Context], bool]


def exercise_rows(exercise: Exercise) -> tuple[ExerciseRow, list[ImpactRow]]:
    row = ExerciseRow(
        exercise.id,
        exercise.name,
        exercise.description,
        exercise.difficulty,
        exercise.default_weight,
        exercise.default_reps,
        exercise.revision,
    )
    impacts = {
        mg.id: ImpactRow(mg.id, mg.name, mg.body_part, mg.is_primary, mg.intensity)
        for mg in exercise.muscle_groups
    }
    return row, list(impacts.values())


def workout_row(workout: WorkoutCompleted) -> WorkoutRow:
    # Called for nearly every record: tuple.__new__ makes the NamedTuple without its
    # Python-level __new__. astuple keeps the field order of WorkoutExercise: exercise_id,
    # sets, reps, weight.
    entries = [astuple(e) for e in workout.exercises]
    user_id = workout.user_id
    return _new_tuple(
        WorkoutRow,
        (
            user_id if type(user_id) is str else str(user_id),
            workout.workout_id,
            to_us(workout.completed_at),
            encode_exercises(entries),
            len(entries),
        ),
    )


_new_tuple = tuple.__new__


def on_exercise_upserted(conn: sqlite3.Connection, data: Exercise, ctx: Context) -> bool:
    row, impacts = exercise_rows(data)
    return writes.upsert_exercise(conn, exercise=row, impacts=impacts)


def on_exercise_deleted(conn: sqlite3.Connection, data: ExerciseDeleted, ctx: Context) -> bool:
    return writes.delete_exercise(conn, exercise_id=data.id, revision=data.revision)


def on_tombstone(conn: sqlite3.Connection, exercise_id: int, ctx: Context) -> bool:
    return writes.delete_exercise(conn, exercise_id=exercise_id, revision=None)


def on_workout_deleted(conn: sqlite3.Connection, data: WorkoutDeleted, ctx: Context) -> bool:
    return writes.delete_workout(
        conn,
        workout_id=data.workout_id,
        user_id=str(data.user_id),
        deleted_at_us=ctx.event_at_us,
    )


def on_user_erased(conn: sqlite3.Connection, data: UserErased, ctx: Context) -> bool:
    """Everything of the user up to the erasure goes, and stays out (store/erasure.py)."""
    return erasure.erase_user(
        conn, user_id=str(data.user_id), erased_at_us=ctx.erasure_at_us, now_us=ctx.now_us
    )


def alert_key_mismatch(conn: sqlite3.Connection, where: str) -> None:
    """An erasure keyed by something else than its user id: it is applied all the same
    (dropping it would keep the user's data), and the producer has a bug to fix. Counted
    (`coach_erasure_key_mismatches`, alerted on) and logged at ERROR, without the key."""
    log.error(
        "erasure %s: its record key is not its user id (a producer's bug); applied all the "
        "same. Fix the producer: an erasure in another partition than the user's workouts "
        "may be read before them",
        where,
    )
    writes.bump_counter(conn, name=ERASURE_KEY_MISMATCHES)


HANDLERS: dict[str, Handler] = {
    EXERCISE_UPSERTED: on_exercise_upserted,
    EXERCISE_DELETED: on_exercise_deleted,
    TOMBSTONE: on_tombstone,
    WORKOUT_DELETED: on_workout_deleted,
    USER_ERASED: on_user_erased,
}
"""Handlers of the events applied one at a time (all but fitness.workout.completed)."""
