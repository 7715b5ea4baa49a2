"""Every change of workouts and performances is stamped with the next `meta.change_seq`
(store/writes.py), and store/changes.py finds the users changed after a stamp."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest

from store import changes, writes
from store.db import connect, transaction
from store.rows import WorkoutRow, encode_exercises

HOUR_US = 3600 * 1_000_000


@pytest.fixture
def conn(db_path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


def workout(user: str, workout_id: str, at_us: int, exercise_id: int = 1) -> WorkoutRow:
    return WorkoutRow(user, workout_id, at_us, encode_exercises([[exercise_id, 3, 8, 40.0]]), 1)


def changed(conn: sqlite3.Connection, after: int, limit: int = 100) -> set[str] | None:
    return changes.changed_users(conn, after=after, upto=changes.change_seq(conn), limit=limit)


def test_inserts_deletes_and_folds_are_stamped(conn):
    assert changes.change_seq(conn) == 0
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("1", "a", 10 * HOUR_US)])
    one = changes.change_seq(conn)
    assert one > 0 and changed(conn, 0) == {"1"}
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("2", "b", 100 * HOUR_US)])
        writes.delete_workout(conn, workout_id="x", user_id="3", marker_at_us=100 * HOUR_US)
    assert changed(conn, one) == {"2", "3"}
    two = changes.change_seq(conn)
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("2", "b", 100 * HOUR_US)])  # seen before
    assert changed(conn, two) == set()
    three = changes.change_seq(conn)
    with transaction(conn):
        writes.fold_and_prune(conn, before_us=50 * HOUR_US)  # user 1's workout goes
    assert changed(conn, three) == {"1"}  # its performance is stamped


def test_deleting_a_folded_workout_whose_marker_exists_is_stamped(conn):
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("1", "a", 10 * HOUR_US)])
        writes.fold_and_prune(conn, before_us=50 * HOUR_US)
        # A marker of the same workout already there (a redelivered delete after a replay).
        conn.execute(
            "INSERT INTO workouts (user_id, workout_id, completed_at_us, deleted) "
            "VALUES ('1', 'a', ?, 1)",
            (60 * HOUR_US,),
        )
    before = changes.change_seq(conn)
    with transaction(conn):
        assert writes.delete_workout(conn, workout_id="a", user_id="1", marker_at_us=0)
    assert conn.execute("SELECT count(*) FROM performances").fetchone()[0] == 0
    assert changed(conn, before) == {"1"}


def test_more_changed_users_than_the_limit_is_none(conn):
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout(str(u), "a", 100 * HOUR_US) for u in range(5)])
    assert changed(conn, 0, limit=5) == {str(u) for u in range(5)}
    assert changed(conn, 0, limit=4) is None
