"""store/writes.py on a real file: a workout deleted again (later, earlier, over a marker an
older coach left without a time), a delete of an erased user's workout, the remembered
performances a delete marks, and which statement stores a run of workouts."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import erasure, writes
from store.db import connect, transaction
from store.fold import fold_and_prune
from store.rows import WorkoutRow, encode_exercises


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


def workout(user: str, workout_id: str, at: int) -> WorkoutRow:
    return WorkoutRow(user, workout_id, at, encode_exercises([[1, 3, 5, 50.0]]), 1)


def rows(conn: sqlite3.Connection) -> list[tuple]:  # type: ignore[type-arg]
    return conn.execute(
        """SELECT workout_id, completed_at_us, exercises IS NULL, deleted, deleted_at_us
           FROM workouts ORDER BY workout_id"""
    ).fetchall()


def delete(conn: sqlite3.Connection, workout_id: str, at: int, user: str = "u1") -> bool:
    with transaction(conn):
        return writes.delete_workout(conn, workout_id=workout_id, user_id=user, deleted_at_us=at)


def test_a_later_delete_moves_the_marker_and_an_earlier_one_does_not(conn):
    """The marker lasts from the latest delete: a workout's marker keeps its completion
    time, a bare marker (a delete of a workout not seen) is "completed" at its delete."""
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("u1", "a", 10)])
    assert delete(conn, "a", 50)
    assert delete(conn, "z", 60)
    delete(conn, "a", 80)
    delete(conn, "z", 90)
    assert rows(conn) == [("a", 10, 0, 1, 80), ("z", 90, 1, 1, 90)]
    delete(conn, "a", 70)
    delete(conn, "z", 85)
    delete(conn, "z", 90)
    assert rows(conn) == [("a", 10, 0, 1, 80), ("z", 90, 1, 1, 90)]


def test_a_delete_over_a_marker_without_a_time_gives_it_one(conn):
    """A marker an older coach left without `deleted_at_us`: a delete gives it its time."""
    with transaction(conn):
        conn.execute(
            """INSERT INTO workouts (user_id, workout_id, completed_at_us, deleted)
               VALUES ('u1', 'old', 5, 1)"""
        )
    delete(conn, "old", 40)
    assert rows(conn) == [("old", 40, 1, 1, 40)]


def test_a_delete_at_or_before_the_users_erasure_leaves_no_marker(conn):
    """A bare marker is "completed" at its delete: at or before the erasure it is not held
    (store/erasure.py), after it it is."""
    with transaction(conn):
        erasure.erase_user(conn, user_id="gone", erased_at_us=1_000, now_us=2_000)
    assert not delete(conn, "w", 999, user="gone")
    assert not delete(conn, "w", 1_000, user="gone")
    assert rows(conn) == []
    assert delete(conn, "w", 1_001, user="gone")
    assert delete(conn, "v", 500, user="kept")  # another user: not erased
    assert rows(conn) == [("v", 500, 1, 1, 500), ("w", 1_001, 1, 1, 1_001)]


def test_a_delete_marks_the_remembered_performances_deleted_and_stamps_them(conn):
    """A folded workout's performance is marked deleted with the next change stamp; a delete
    that finds only that (its marker already there, dated later) still reports a change."""
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("u1", "a", 10), workout("u2", "b", 10)])
        fold_and_prune(conn, before_us=100)
        conn.execute(
            """INSERT INTO workouts (user_id, workout_id, completed_at_us, deleted, deleted_at_us)
               VALUES ('u1', 'a', 200, 1, 200)"""
        )
    seq = conn.execute("SELECT value FROM meta WHERE name = 'change_seq'").fetchone()[0]
    assert delete(conn, "a", 150)
    performances = conn.execute(
        "SELECT user_id, workout_id, deleted, changed_seq FROM performances ORDER BY user_id"
    ).fetchall()
    assert performances[0] == ("u1", "a", 1, seq + 1)
    assert performances[1][:3] == ("u2", "b", 0)
    assert conn.execute("SELECT value FROM meta WHERE name = 'change_seq'").fetchone()[0] == (
        seq + 1
    )
    assert not delete(conn, "a", 150)  # nothing left to mark


def statements(conn: sqlite3.Connection, run: list[WorkoutRow]) -> list[str]:
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        with transaction(conn):
            writes.add_workouts(conn, workouts=run)
    finally:
        conn.set_trace_callback(None)
    return seen


def test_workouts_are_checked_against_the_erasures_in_python_while_few_are_erased(
    conn, monkeypatch
):
    """The per-row check in SQL (`_ADD_UNLESS_ERASED`, half the insert's cost again) runs
    only beyond `MAX_HELD` erased users (counted when an erasure changed the table); below,
    the run is filtered against the copy of `erased_users` and stored with the plain
    insert."""
    with transaction(conn):
        erasure.erase_user(conn, user_id="gone", erased_at_us=1_000, now_us=2_000)
    run = [workout("u1", "a", 10), workout("gone", "b", 500), workout("gone", "c", 1_500)]
    few = statements(conn, run)
    assert not any("NOT EXISTS" in s for s in few)
    assert sum("INSERT INTO workouts" in s for s in few) == 2  # the erased one left out
    monkeypatch.setattr(erasure, "MAX_HELD", 1)
    with transaction(conn):  # a second erased user, beyond MAX_HELD
        erasure.erase_user(conn, user_id="gone2", erased_at_us=1_000, now_us=2_000)
    many = statements(conn, [workout("u1", "d", 20), workout("gone", "e", 900)])
    assert sum("NOT EXISTS" in s for s in many) == 2
    stored = conn.execute("SELECT workout_id FROM workouts ORDER BY 1").fetchall()
    assert stored == [("a",), ("c",), ("d",)]


def test_a_heartbeat_records_no_contact_with_the_broker_unless_told(conn):
    """`broker_contact` is the caller's to say (the high watermarks were read): a heartbeat
    that only found the broker reachable records no contact, and no loss either."""
    from store import status

    with transaction(conn):
        writes.heartbeat(conn, now_us=5, broker_reachable=True, last_error="slow")
    assert status.consumer(conn) == status.ConsumerRow(5, True, "slow", None, None)
    with transaction(conn):
        writes.heartbeat(
            conn, now_us=6, broker_reachable=True, last_error=None, broker_contact=True
        )
    assert status.consumer(conn) == status.ConsumerRow(6, True, None, 6, None)
