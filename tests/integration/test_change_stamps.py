"""store/changes.py finds the users whose workouts or performances changed between two
marks: changed workout rows by rowid (new rows, and deleted markers moved to a new highest
rowid), the fold's performances by their stamp (`meta.change_seq`)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from store import changes, writes
from store.db import connect, transaction
from store.fold import fold_and_prune
from store.rows import WorkoutRow, encode_exercises

HOUR_US = 3600 * 1_000_000


@pytest.fixture
def conn(db_path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


def workout(user: str, workout_id: str, at_us: int, exercise_id: int = 1) -> WorkoutRow:
    return WorkoutRow(user, workout_id, at_us, encode_exercises([[exercise_id, 3, 8, 40.0]]), 1)


def changed(
    conn: sqlite3.Connection, after: changes.ChangeMark, limit: int = 100
) -> set[str] | None:
    mark = changes.change_mark(conn)
    return changes.changed_users(conn, after=after, upto=mark, limit=limit)


def test_inserts_deletes_and_folds_are_found(conn):
    start = changes.change_mark(conn)
    assert start == changes.NO_CHANGES
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("1", "a", 10 * HOUR_US)])
    one = changes.change_mark(conn)
    assert one.seq == 0  # completed workouts carry no stamp
    assert changed(conn, start) == {"1"}
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("2", "b", 100 * HOUR_US)])
        writes.delete_workout(conn, workout_id="x", user_id="3", deleted_at_us=100 * HOUR_US)
    assert changed(conn, one) == {"2", "3"}
    two = changes.change_mark(conn)
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("2", "b", 100 * HOUR_US)])  # seen before
    assert changed(conn, two) == set()
    with transaction(conn):
        writes.delete_workout(conn, workout_id="b", user_id="2", deleted_at_us=100 * HOUR_US)
    assert changed(conn, two) == {"2"}  # its marker moved to a new highest rowid
    three = changes.change_mark(conn)
    with transaction(conn):
        fold_and_prune(conn, before_us=50 * HOUR_US)  # user 1's workout goes
    assert changed(conn, three) == {"1"}  # its performance is stamped


def test_the_fold_removing_the_highest_rowid_starts_another_epoch(conn):
    """SQLite may then give that rowid to a new row, which a reader looking above the
    highest rowid it saw would miss: the epoch tells it not to trust the rowids."""
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("1", "a", HOUR_US)])
        writes.add_workouts(conn, workouts=[workout("2", "b", 100 * HOUR_US)])
    first = changes.change_mark(conn)
    with transaction(conn):
        fold_and_prune(conn, before_us=50 * HOUR_US)  # not the highest rowid
    second = changes.change_mark(conn)
    assert second.follows(first) and second.epoch == first.epoch
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("3", "c", HOUR_US)])  # late and old
    third = changes.change_mark(conn)
    assert third.follows(second) and changed(conn, second) == {"3"}
    with transaction(conn):
        fold_and_prune(conn, before_us=50 * HOUR_US)  # the highest rowid goes
        writes.add_workouts(conn, workouts=[workout("4", "d", 100 * HOUR_US)])
    fourth = changes.change_mark(conn)
    assert fourth.rowid == third.rowid  # the rowid came back
    assert not fourth.follows(third)


def test_a_workout_folded_before_anyone_looked_is_found(conn):
    mark = changes.change_mark(conn)
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("1", "a", HOUR_US), workout("2", "b", HOUR_US)])
        writes.add_workouts(conn, workouts=[workout("3", "c", 100 * HOUR_US)])
        while fold_and_prune(conn, before_us=50 * HOUR_US):
            pass
    assert changed(conn, mark) == {"1", "2", "3"}


def test_deleting_a_folded_workout_whose_marker_exists_is_seen(conn):
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("1", "a", 10 * HOUR_US)])
        writes.add_workouts(conn, workouts=[workout("2", "z", 100 * HOUR_US)])
        fold_and_prune(conn, before_us=50 * HOUR_US)
        # A marker of the same workout already there (a redelivered delete after a replay).
        conn.execute(
            "INSERT INTO workouts (user_id, workout_id, completed_at_us, deleted) "
            "VALUES ('1', 'a', ?, 1)",
            (60 * HOUR_US,),
        )
    before = changes.change_mark(conn)
    with transaction(conn):
        assert writes.delete_workout(conn, workout_id="a", user_id="1", deleted_at_us=0)
    # The remembered performance is kept, marked deleted (it still counts among the newest).
    assert conn.execute("SELECT count(*) FROM performances WHERE deleted = 0").fetchone()[0] == 0
    assert changed(conn, before) == {"1"}


def test_more_changed_users_than_the_limit_is_none(conn):
    start = changes.change_mark(conn)
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout(str(u), "a", 100 * HOUR_US) for u in range(5)])
    assert changed(conn, start, limit=5) == {str(u) for u in range(5)}
    assert changed(conn, start, limit=4) is None
