"""Folding old workouts into the performances: the history window of the projection.

Workouts completed before the cutoff (config/derived.py `history_cutoff_us`) leave the
`workouts` table; what the suggestion rule needs of them (wod/suggestion.py) stays in
`performances`.
"""

from __future__ import annotations

import sqlite3

from store.db import transaction
from store.rows import decode_exercises
from store.writes import next_change_seq
from wod.suggestion import Entry, newest_entries, workout_entries

FOLD_CHUNK = 20_000


def fold_and_prune(conn: sqlite3.Connection, *, before_us: int, limit: int = FOLD_CHUNK) -> int:
    """Fold up to `limit` workouts older than `before_us` into `performances` and remove
    them; prune deleted markers deleted before `before_us`; return how many rows were
    folded or pruned. Call until 0.

    What the performances hold after it does not depend on when folds ran: per user and
    exercise, the `KEPT_PER_EXERCISE` newest entries of every workout folded so far,
    deleted ones marked (wod/suggestion.py `newest_entries`). A deleted workout's marker gives
    its entries (deleted) and keeps only its deletion time, until that is older than
    `before_us` too.

    For readers of changes (store/changes.py): the performances the fold writes are stamped
    (`changed_seq`), so a workout folded away before a reader looked still tells it that
    its user changed; and when the fold removes the row of the highest rowid (so that
    SQLite may give its rowid to a new row), it bumps `meta.rowid_epoch`, since readers
    find new rows as those above the highest rowid they saw.
    """
    rows = conn.execute(
        """SELECT user_id, workout_id, completed_at_us, exercises, deleted, deleted_at_us
           FROM workouts WHERE completed_at_us < ? ORDER BY completed_at_us LIMIT ?""",
        (before_us, limit),
    ).fetchall()
    if not rows:
        return 0
    folded: dict[tuple[str, int], list[Entry]] = {}
    for user, workout, at, blob, deleted, _ in rows:
        if blob is None:
            continue
        entries = workout_entries(workout, at, decode_exercises(blob), deleted=bool(deleted))
        for exercise_id, entry in entries.items():
            folded.setdefault((user, exercise_id), []).append(entry)
    _remember(conn, folded)
    highest = _highest_rowid(conn)
    gone, kept = [], []
    for user, workout, _, blob, deleted, deleted_at in rows:
        if deleted and blob is not None and deleted_at is not None and deleted_at >= before_us:
            kept.append((deleted_at, user, workout))  # its entries are folded; the marker stays
        else:
            gone.append((user, workout))
    conn.executemany("DELETE FROM workouts WHERE user_id = ? AND workout_id = ?", gone)
    conn.executemany(
        """UPDATE workouts SET exercises = NULL, n_exercises = 0, completed_at_us = ?
           WHERE user_id = ? AND workout_id = ?""",
        kept,
    )
    if _highest_rowid(conn) < highest:
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'rowid_epoch'")
    return len(rows)


def _remember(conn: sqlite3.Connection, folded: dict[tuple[str, int], list[Entry]]) -> None:
    """Merge folded entries into `performances`, keeping the newest per user and exercise."""
    if not folded:
        return
    held: dict[tuple[str, int], list[Entry]] = {}
    for user in {user for user, _ in folded}:
        for exercise_id, at, workout, sets, reps, weight, deleted in conn.execute(
            """SELECT exercise_id, completed_at_us, workout_id, sets, reps, weight, deleted
               FROM performances WHERE user_id = ?""",
            (user,),
        ):
            held.setdefault((user, exercise_id), []).append(
                Entry(at, workout, sets, reps, weight, bool(deleted))
            )
    upserts, evicted = [], []
    for (user, exercise_id), entries in folded.items():
        before = held.get((user, exercise_id), [])
        after = newest_entries([*before, *entries])  # held first: the earliest seen wins
        was = {e.workout_id: e for e in before}
        for e in after:
            if was.get(e.workout_id) != e:
                upserts.append((user, exercise_id, *e))
        evicted += [(user, exercise_id, w) for w in was.keys() - {e.workout_id for e in after}]
    if upserts:
        seq = next_change_seq(conn)
        conn.executemany(
            """INSERT INTO performances
                 (user_id, exercise_id, completed_at_us, workout_id, sets, reps, weight, deleted,
                  changed_seq)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (user_id, exercise_id, workout_id) DO UPDATE SET
                 deleted = excluded.deleted, changed_seq = excluded.changed_seq""",
            [(*u, seq) for u in upserts],
        )
    conn.executemany(
        "DELETE FROM performances WHERE user_id = ? AND exercise_id = ? AND workout_id = ?",
        evicted,
    )


def _highest_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM workouts").fetchone()[0]


def fold_all(conn: sqlite3.Connection, *, before_us: int) -> int:
    """Fold every workout older than `before_us`, one transaction per chunk; return how
    many rows were folded or pruned."""
    total = 0
    while True:
        with transaction(conn):
            n = fold_and_prune(conn, before_us=before_us)
        if n == 0:
            return total
        total += n
