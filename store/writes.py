"""Row changes of the projection. Called by the consumer inside one transaction per batch.

Every function is idempotent where the contract asks for it: a stale catalog revision, a
workout seen before, a dead letter stored before change nothing. Each returns whether it
changed anything.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence

from store.erasure import erased_before
from store.rows import ExerciseRow, ImpactRow, PositionRow, WorkoutRow


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
    conn.execute("DELETE FROM exercise_muscle_groups WHERE exercise_id = ?", (exercise.id,))
    conn.executemany(
        """INSERT OR REPLACE INTO exercise_muscle_groups
             (exercise_id, muscle_group_id, is_primary, intensity, name, body_part)
           VALUES (?, ?, ?, ?, ?, ?)""",
        [
            (exercise.id, i.muscle_group_id, int(i.is_primary), i.intensity, i.name, i.body_part)
            for i in impacts
        ],
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
    """Store completed workouts, each once: a workout seen before (or deleted) is ignored,
    and so is one of an erased user completed at or before their erasure.

    One statement for a whole run of workouts; returns how many were new.
    """
    before = conn.total_changes
    erased = erased_before(conn)
    if erased is None:  # very many erased users: each row is checked in SQL
        conn.executemany(_ADD_UNLESS_ERASED, workouts)
        return conn.total_changes - before
    if erased:
        get = erased.get
        workouts = [w for w in workouts if (at := get(w[0])) is None or w[2] > at]
    # No change stamp: readers find new rows by rowid (see store/changes.py).
    conn.executemany(_ADD, workouts)
    return conn.total_changes - before


_ADD = """INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)
          VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"""
_ADD_UNLESS_ERASED = """
    INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)
    SELECT ?1, ?2, ?3, ?4, ?5 WHERE NOT EXISTS
      (SELECT 1 FROM erased_users WHERE user_id = ?1 AND erased_at_us >= ?3)
    ON CONFLICT DO NOTHING"""
"""A workout of an erased user completed at or before the erasure is not stored
(store/erasure.py). Checked in Python against a copy of `erased_users` while it is small
(with 10,000 erased users, storing 100,000 workouts took 0.44 s of CPU against 0.425 s
with none, median of 5; this statement, per row in SQL, costs half the insert again),
in SQL beyond."""


def delete_workout(
    conn: sqlite3.Connection, *, workout_id: str, user_id: str, deleted_at_us: int
) -> bool:
    """Delete a workout: its exercises no longer count as done, and its performances no
    longer count for the suggestions (wod/suggestion.py `suggested_entry`).

    `deleted_at_us` is the delete record's timestamp (from the topic, so a replay stamps
    the same). A workout in the window becomes a deleted marker that keeps its time and
    exercises, so that the fold remembers them as deleted; a delete of a workout not in the
    window (not seen yet, or folded already) leaves a bare marker. Either way a late
    duplicate is ignored until the marker is pruned, `COACH_HISTORY_HOURS` after the delete.
    Performances remembered from the workout are marked deleted (and stamped for readers of
    changes, store/changes.py), so the one before it counts again.
    """
    # The marker takes a new highest rowid, so readers of changes see it as a new row.
    cur = conn.execute(
        f"""UPDATE workouts SET deleted = 1, deleted_at_us = ?, rowid = {_NEXT_ROWID}
            WHERE user_id = ? AND workout_id = ? AND deleted = 0""",  # nosec B608
        (deleted_at_us, user_id, workout_id),
    )
    changed = cur.rowcount > 0
    if not changed:
        held = conn.execute(
            "SELECT deleted_at_us FROM workouts WHERE user_id = ? AND workout_id = ?",
            (user_id, workout_id),
        ).fetchone()
        if held is None:
            if _erased_since(conn, user_id, deleted_at_us):
                # A bare marker is "completed" at its delete: at or before the erasure it is
                # not held (store/erasure.py), nor would the workout be.
                return False
            conn.execute(
                """INSERT INTO workouts
                     (user_id, workout_id, completed_at_us, deleted, deleted_at_us)
                   VALUES (?, ?, ?, 1, ?)""",
                (user_id, workout_id, deleted_at_us, deleted_at_us),
            )
            changed = True
        elif held[0] is None or deleted_at_us > held[0]:
            # Deleted again: the marker lasts from the latest delete, whichever order the
            # deletes came in and whether an earlier marker was pruned in between.
            conn.execute(
                """UPDATE workouts SET deleted_at_us = ?1,
                     completed_at_us = CASE WHEN exercises IS NULL THEN ?1
                                            ELSE completed_at_us END
                   WHERE user_id = ?2 AND workout_id = ?3""",
                (deleted_at_us, user_id, workout_id),
            )
    remembered = conn.execute(
        """SELECT 1 FROM performances WHERE user_id = ? AND workout_id = ? AND deleted = 0
           LIMIT 1""",
        (user_id, workout_id),
    ).fetchone()
    if remembered:
        conn.execute(
            """UPDATE performances SET deleted = 1, changed_seq = ?
               WHERE user_id = ? AND workout_id = ? AND deleted = 0""",
            (next_change_seq(conn), user_id, workout_id),
        )
    return changed or remembered is not None


_NEXT_ROWID = "(SELECT max(rowid) FROM workouts) + 1"


def _erased_since(conn: sqlite3.Connection, user_id: str, at_us: int) -> bool:
    """Whether the user was erased at or after `at_us` (store/erasure.py's predicate)."""
    row = conn.execute(
        "SELECT 1 FROM erased_users WHERE user_id = ? AND erased_at_us >= ?", (user_id, at_us)
    ).fetchone()
    return row is not None


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
    conn: sqlite3.Connection,
    *,
    now_us: int,
    broker_reachable: bool,
    last_error: str | None,
    broker_contact: bool = False,
) -> None:
    """Record the consumer's heartbeat; `broker_contact`: the broker answered at this one
    and the high watermarks were read (`meta.broker_contact_at_us`). An unreachable broker
    seen for the first time since the last contact is `meta.broker_lost_at_us` (kept
    through the outage, across restarts). See api/lag.py."""
    conn.execute(
        """UPDATE consumer_status SET heartbeat_at_us = ?, broker_reachable = ?, last_error = ?
           WHERE singleton = 1""",
        (now_us, int(broker_reachable), last_error),
    )
    if broker_contact:
        conn.execute(
            """INSERT INTO meta (name, value) VALUES ('broker_contact_at_us', ?)
               ON CONFLICT (name) DO UPDATE SET value = excluded.value""",
            (now_us,),
        )
    elif not broker_reachable:
        conn.execute(
            """INSERT INTO meta (name, value) VALUES ('broker_lost_at_us', ?)
               ON CONFLICT (name) DO UPDATE SET value = excluded.value
               WHERE meta.value < coalesce(
                 (SELECT value FROM meta WHERE name = 'broker_contact_at_us'), 0)""",
            (now_us,),
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
