"""One small handler per event type: it turns a validated event into row changes.

A handler returns whether the projection changed. The row shapes come from pure functions
(`exercise_rows`, `completed_rows`), so the mapping can be tested without SQLite.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from events import (
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    Exercise,
    ExerciseDeleted,
    WorkoutCompleted,
    WorkoutDeleted,
)
from events.codec import TOMBSTONE
from store import writes
from store.instants import to_us
from store.writes import CompletedRow, ExerciseRow, ImpactRow


@dataclass(frozen=True, slots=True)
class Context:
    """What a handler may need besides the event: the clock and the window, decided once
    per batch by the caller."""

    now_us: int
    keep_from_us: int


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


def completed_rows(workout: WorkoutCompleted) -> list[CompletedRow]:
    return [CompletedRow(e.exercise_id, e.sets, e.reps, e.weight) for e in workout.exercises]


def on_exercise_upserted(conn: sqlite3.Connection, data: Exercise, ctx: Context) -> bool:
    row, impacts = exercise_rows(data)
    return writes.upsert_exercise(conn, exercise=row, impacts=impacts)


def on_exercise_deleted(conn: sqlite3.Connection, data: ExerciseDeleted, ctx: Context) -> bool:
    return writes.delete_exercise(conn, exercise_id=data.id, revision=data.revision)


def on_tombstone(conn: sqlite3.Connection, exercise_id: int, ctx: Context) -> bool:
    return writes.delete_exercise(conn, exercise_id=exercise_id, revision=None)


def on_workout_completed(conn: sqlite3.Connection, data: WorkoutCompleted, ctx: Context) -> bool:
    return writes.add_workout(
        conn,
        workout_id=data.workout_id,
        user_id=data.user_id,
        completed_at_us=to_us(data.completed_at),
        rows=completed_rows(data),
        keep_from_us=ctx.keep_from_us,
    )


def on_workout_deleted(conn: sqlite3.Connection, data: WorkoutDeleted, ctx: Context) -> bool:
    return writes.delete_workout(
        conn, workout_id=data.workout_id, user_id=data.user_id, marker_at_us=ctx.now_us
    )


HANDLERS: dict[str, Handler] = {
    EXERCISE_UPSERTED: on_exercise_upserted,
    EXERCISE_DELETED: on_exercise_deleted,
    TOMBSTONE: on_tombstone,
    WORKOUT_COMPLETED: on_workout_completed,
    WORKOUT_DELETED: on_workout_deleted,
}
