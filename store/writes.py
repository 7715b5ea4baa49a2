"""Row changes of the projection. Called by the consumer inside one transaction per batch.

Every function is idempotent where the contract asks for it: a stale catalog revision, a
workout seen before, a dead letter stored before change nothing. Each returns whether it
changed anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from typing import NamedTuple


class ExerciseRow(NamedTuple):
    id: int
    name: str
    description: str
    difficulty: int
    default_weight: float
    default_reps: int
    revision: int


class ImpactRow(NamedTuple):
    muscle_group_id: int
    name: str
    body_part: str
    is_primary: bool
    intensity: float


class CompletedRow(NamedTuple):
    exercise_id: int
    sets: int
    reps: int
    weight: float


class PositionRow(NamedTuple):
    topic: str
    partition: int
    next_offset: int
    high_watermark: int | None
    last_event_at_us: int | None


def _is_stale(conn: sqlite3.Connection, exercise_id: int, revision: int) -> bool:
    row = conn.execute("SELECT revision FROM exercises WHERE id = ?", (exercise_id,)).fetchone()
    return row is not None and row[0] is not None and revision <= row[0]


def _catalog_changed(conn: sqlite3.Connection) -> None:
    conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'catalog_version'")


def upsert_exercise(
    conn: sqlite3.Connection, *, exercise: ExerciseRow, impacts: Sequence[ImpactRow]
) -> bool:
    """Store a whole exercise unless a equal or newer revision is already applied."""
    if _is_stale(conn, exercise.id, exercise.revision):
        return False
    conn.execute(
        """INSERT INTO exercises (id, name, description, difficulty, default_weight,
                                  default_reps, revision, deleted)
           VALUES (?, ?, ?, ?, ?, ?, ?, 0)
           ON CONFLICT (id) DO UPDATE SET
             name = excluded.name, description = excluded.description,
             difficulty = excluded.difficulty, default_weight = excluded.default_weight,
             default_reps = excluded.default_reps, revision = excluded.revision, deleted = 0""",
        exercise,
    )
    conn.executemany(
        """INSERT INTO muscle_groups (id, name, body_part) VALUES (?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET name = excluded.name, body_part = excluded.body_part""",
        [(i.muscle_group_id, i.name, i.body_part) for i in impacts],
    )
    conn.execute("DELETE FROM exercise_muscle_groups WHERE exercise_id = ?", (exercise.id,))
    conn.executemany(
        """INSERT OR REPLACE INTO exercise_muscle_groups
             (exercise_id, muscle_group_id, is_primary, intensity) VALUES (?, ?, ?, ?)""",
        [(exercise.id, i.muscle_group_id, int(i.is_primary), i.intensity) for i in impacts],
    )
    _catalog_changed(conn)
    return True


def delete_exercise(conn: sqlite3.Connection, *, exercise_id: int, revision: int | None) -> bool:
    """Delete an exercise. `revision` None is a tombstone: it deletes whatever is there.

    A delete that arrives before any upsert leaves a deleted row with its revision, so that
    an older upsert arriving later cannot bring the exercise back.
    """
    if revision is not None and _is_stale(conn, exercise_id, revision):
        return False
    row = conn.execute("SELECT deleted FROM exercises WHERE id = ?", (exercise_id,)).fetchone()
    if row is None:
        if revision is None:
            return False
        conn.execute(
            """INSERT INTO exercises (id, name, description, difficulty, default_weight,
                                      default_reps, revision, deleted)
               VALUES (?, '', '', 1, 0, 1, ?, 1)""",
            (exercise_id, revision),
        )
        return True
    conn.execute(
        "UPDATE exercises SET deleted = 1, revision = coalesce(?, revision) WHERE id = ?",
        (revision, exercise_id),
    )
    conn.execute("DELETE FROM exercise_muscle_groups WHERE exercise_id = ?", (exercise_id,))
    if row[0] == 0:
        _catalog_changed(conn)
    return True


def add_workout(
    conn: sqlite3.Connection,
    *,
    workout_id: str,
    user_id: str,
    completed_at_us: int,
    rows: Sequence[CompletedRow],
    keep_from_us: int,
) -> bool:
    """Count a completed workout once; keep its exercises if it is inside the window.

    The user's latest performance per exercise is updated whatever the workout's age.
    """
    if completed_at_us >= keep_from_us:
        cur = conn.execute(
            """INSERT INTO workouts (workout_id, user_id, completed_at_us) VALUES (?, ?, ?)
               ON CONFLICT (workout_id) DO NOTHING""",
            (workout_id, user_id, completed_at_us),
        )
        if cur.rowcount == 0:
            return False
        conn.executemany(
            """INSERT INTO completed_exercises
                 (workout_id, user_id, exercise_id, completed_at_us, sets, reps, weight)
               VALUES (?, ?, ?, ?, ?, ?, ?)""",
            [
                (workout_id, user_id, r.exercise_id, completed_at_us, r.sets, r.reps, r.weight)
                for r in rows
            ],
        )
    elif _workout_deleted(conn, workout_id):
        return False
    conn.executemany(
        """INSERT INTO performances
             (user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight)
           VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (user_id, exercise_id) DO UPDATE SET
             workout_id = excluded.workout_id, completed_at_us = excluded.completed_at_us,
             sets = excluded.sets, reps = excluded.reps, weight = excluded.weight
           WHERE excluded.completed_at_us >= performances.completed_at_us""",
        [
            (user_id, r.exercise_id, workout_id, completed_at_us, r.sets, r.reps, r.weight)
            for r in rows
        ],
    )
    return True


def _workout_deleted(conn: sqlite3.Connection, workout_id: str) -> bool:
    row = conn.execute(
        "SELECT deleted FROM workouts WHERE workout_id = ?", (workout_id,)
    ).fetchone()
    return row is not None and row[0] == 1


def delete_workout(
    conn: sqlite3.Connection, *, workout_id: str, user_id: str, marker_at_us: int
) -> bool:
    """Delete a workout: its exercises no longer count as done, nor as performances.

    A delete of a workout not seen (yet, or any more) leaves a deleted marker, stamped
    `marker_at_us` so it is pruned with the window, against a late duplicate.
    """
    cur = conn.execute(
        """INSERT INTO workouts (workout_id, user_id, completed_at_us, deleted)
           VALUES (?, ?, ?, 1)
           ON CONFLICT (workout_id) DO UPDATE SET deleted = 1 WHERE deleted = 0""",
        (workout_id, user_id, marker_at_us),
    )
    changed = cur.rowcount > 0
    conn.execute("DELETE FROM completed_exercises WHERE workout_id = ?", (workout_id,))
    affected = [
        r[0]
        for r in conn.execute(
            "SELECT exercise_id FROM performances WHERE user_id = ? AND workout_id = ?",
            (user_id, workout_id),
        )
    ]
    if affected:
        changed = True
        conn.execute(
            "DELETE FROM performances WHERE user_id = ? AND workout_id = ?",
            (user_id, workout_id),
        )
        # Fall back to the latest remaining performance inside the window, if any.
        conn.executemany(
            """INSERT INTO performances
                 (user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight)
               SELECT user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight
               FROM completed_exercises WHERE user_id = ? AND exercise_id = ?
               ORDER BY completed_at_us DESC, rowid DESC LIMIT 1""",
            [(user_id, exercise_id) for exercise_id in affected],
        )
    return changed


def prune(conn: sqlite3.Connection, *, before_us: int) -> int:
    """Drop workouts and completed exercises older than the window; return rows removed."""
    n = conn.execute(
        "DELETE FROM completed_exercises WHERE completed_at_us < ?", (before_us,)
    ).rowcount
    n += conn.execute("DELETE FROM workouts WHERE completed_at_us < ?", (before_us,)).rowcount
    return n


def add_dead_letter(
    conn: sqlite3.Connection,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    failed_at_us: int,
) -> bool:
    """Keep a record that could not be applied, with the reason (once per position)."""
    cur = conn.execute(
        """INSERT INTO dead_letters (topic, partition, "offset", key, value, error, failed_at_us)
           VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        (topic, partition, offset, key, value, error, failed_at_us),
    )
    return cur.rowcount > 0


def bump_counter(conn: sqlite3.Connection, *, name: str, by: int = 1) -> None:
    conn.execute(
        """INSERT INTO meta (name, value) VALUES (?, ?)
           ON CONFLICT (name) DO UPDATE SET value = value + excluded.value""",
        (name, by),
    )


def save_positions(
    conn: sqlite3.Connection, *, positions: Iterable[PositionRow], now_us: int
) -> None:
    """Store each partition's next offset (and what was seen of it) with the batch's rows."""
    conn.executemany(
        """INSERT INTO partitions
             (topic, partition, next_offset, high_watermark, last_event_at_us, updated_at_us)
           VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (topic, partition) DO UPDATE SET
             next_offset = excluded.next_offset,
             high_watermark = coalesce(excluded.high_watermark, partitions.high_watermark),
             last_event_at_us = coalesce(excluded.last_event_at_us, partitions.last_event_at_us),
             updated_at_us = excluded.updated_at_us""",
        [(*p, now_us) for p in positions],
    )


def heartbeat(
    conn: sqlite3.Connection, *, now_us: int, broker_reachable: bool, last_error: str | None
) -> None:
    conn.execute(
        """UPDATE consumer_status SET heartbeat_at_us = ?, broker_reachable = ?, last_error = ?
           WHERE singleton = 1""",
        (now_us, int(broker_reachable), last_error),
    )


def save_high_watermarks(conn: sqlite3.Connection, *, rows: Iterable[tuple[int, str, int]]) -> None:
    """Record the latest high watermark of partitions already read (rows: high, topic, p)."""
    conn.executemany(
        "UPDATE partitions SET high_watermark = ? WHERE topic = ? AND partition = ?", rows
    )
