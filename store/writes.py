"""Row changes of the projection. Called by the consumer inside one transaction per batch.

Every function is idempotent where the contract asks for it: a stale catalog revision, a
workout seen before, a dead letter stored before change nothing. Each returns whether it
changed anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from store.rows import (
    ExerciseRow,
    ImpactRow,
    PositionRow,
    WorkoutRow,
    decode_exercises,
    latest_performances,
)


def next_change_seq(conn: sqlite3.Connection) -> int:
    """The next value of `meta.change_seq`, to stamp (`changed_seq`) the performances one
    statement of the fold writes. Readers learn from the stamps which users changed
    (store/changes.py)."""
    return conn.execute(
        "UPDATE meta SET value = value + 1 WHERE name = 'change_seq' RETURNING value"
    ).fetchone()[0]


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


def add_workouts(conn: sqlite3.Connection, *, workouts: Sequence[WorkoutRow]) -> int:
    """Store completed workouts, each once: a workout seen before (or deleted) is ignored.

    One statement for a whole run of workouts; returns how many were new.
    """
    before = conn.total_changes
    # No change stamp: readers find new rows by rowid (see store/changes.py).
    conn.executemany(
        """INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)
           VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        workouts,
    )
    return conn.total_changes - before


def delete_workout(
    conn: sqlite3.Connection, *, workout_id: str, user_id: str, marker_at_us: int
) -> bool:
    """Delete a workout: its exercises no longer count as done, nor as performances.

    The workout's row becomes a deleted marker stamped `marker_at_us` (the time of the
    delete), so a late duplicate is ignored for the whole history window after the delete;
    a delete of a workout not seen (yet, or any more) leaves the same marker. If the workout
    was already folded into `performances`, those rows go; the suggestion then falls back to
    the user's workouts still in the window, else the exercise's defaults.
    """
    # The marker takes a new highest rowid, so readers of changes see it as a new row
    # (store/changes.py).
    cur = conn.execute(
        f"""UPDATE workouts
            SET deleted = 1, exercises = NULL, n_exercises = 0,
                completed_at_us = max(completed_at_us, ?), rowid = {_NEXT_ROWID}
            WHERE user_id = ? AND workout_id = ? AND deleted = 0""",
        (marker_at_us, user_id, workout_id),
    )
    changed = cur.rowcount > 0
    if not changed:
        cur = conn.execute(
            """INSERT INTO workouts (user_id, workout_id, completed_at_us, deleted)
               VALUES (?, ?, ?, 1) ON CONFLICT DO NOTHING""",
            (user_id, workout_id, marker_at_us),
        )
        changed = cur.rowcount > 0
    cur = conn.execute(
        "DELETE FROM performances WHERE user_id = ? AND workout_id = ?", (user_id, workout_id)
    )
    if cur.rowcount > 0 and not changed:
        # The marker was there already: move it up too, so readers see the user changed.
        conn.execute(
            f"UPDATE workouts SET rowid = {_NEXT_ROWID} WHERE user_id = ? AND workout_id = ?",
            (user_id, workout_id),
        )
    return changed or cur.rowcount > 0


_NEXT_ROWID = "(SELECT max(rowid) FROM workouts) + 1"


FOLD_CHUNK = 20_000


def fold_and_prune(conn: sqlite3.Connection, *, before_us: int, limit: int = FOLD_CHUNK) -> int:
    """Fold up to `limit` workouts older than `before_us` into `performances` and remove
    them (and deleted markers that old); return how many rows went. Call until 0.

    For readers of changes (store/changes.py): the performances the fold writes are stamped
    (`changed_seq`), so a workout folded away before a reader looked still tells it that
    its user changed; and when the fold removes the row of the highest rowid (so that
    SQLite may give its rowid to a new row), it bumps `meta.rowid_epoch`, since readers
    find new rows as those above the highest rowid they saw.
    """
    rows = conn.execute(
        """SELECT user_id, workout_id, completed_at_us, exercises, deleted FROM workouts
           WHERE completed_at_us < ? ORDER BY completed_at_us LIMIT ?""",
        (before_us, limit),
    ).fetchall()
    if not rows:
        return 0
    live = [
        (user, workout, at, decode_exercises(blob))
        for user, workout, at, blob, deleted in rows
        if not deleted
    ]
    seq = next_change_seq(conn)
    conn.executemany(
        """INSERT INTO performances
             (user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight,
              changed_seq)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (user_id, exercise_id) DO UPDATE SET
             workout_id = excluded.workout_id, completed_at_us = excluded.completed_at_us,
             sets = excluded.sets, reps = excluded.reps, weight = excluded.weight,
             changed_seq = excluded.changed_seq
           WHERE excluded.completed_at_us >= performances.completed_at_us""",
        [(*p, seq) for p in latest_performances(live)],
    )
    highest = _highest_rowid(conn)
    conn.executemany(
        "DELETE FROM workouts WHERE user_id = ? AND workout_id = ?",
        [(user, workout) for user, workout, *_ in rows],
    )
    if _highest_rowid(conn) < highest:
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'rowid_epoch'")
    return len(rows)


def _highest_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM workouts").fetchone()[0]


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


def save_assigned(
    conn: sqlite3.Connection, *, rows: Iterable[tuple[str, int, int, int | None]], now_us: int
) -> None:
    """Replace the partitions assigned to the consumer (rows: topic, partition, the offset
    reading starts at, high watermark if known). Read or not, every one is listed by /lag."""
    conn.execute("DELETE FROM assigned_partitions")
    conn.executemany(
        """INSERT INTO assigned_partitions
             (topic, partition, start_offset, high_watermark, updated_at_us)
           VALUES (?, ?, ?, ?, ?)""",
        [(*r, now_us) for r in rows],
    )


def save_topic_ids(
    conn: sqlite3.Connection, *, ids: Iterable[tuple[str, bytes]], now_us: int
) -> None:
    """Remember each topic's id the first time it is seen (a stored id is never replaced)."""
    conn.executemany(
        """INSERT INTO topic_ids (topic, topic_id, seen_at_us) VALUES (?, ?, ?)
           ON CONFLICT (topic) DO NOTHING""",
        [(topic, topic_id, now_us) for topic, topic_id in ids],
    )
