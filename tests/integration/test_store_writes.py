"""store/writes.py called directly on a real file, each result read back: the consumer's
status rows (high watermarks, topic ids, positions), and what each change returns."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import erasure, writes
from store.db import connect, transaction
from store.rows import ExerciseRow, ImpactRow, PositionRow, WorkoutRow, encode_exercises


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


def partitions(conn: sqlite3.Connection) -> list[tuple]:  # type: ignore[type-arg]
    return conn.execute(
        """SELECT topic, partition, next_offset, high_watermark, last_event_at_us,
                  updated_at_us FROM partitions ORDER BY topic, partition"""
    ).fetchall()


def meta(conn: sqlite3.Connection, name: str) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0]


def test_positions_keep_the_last_known_high_watermark_and_event_time(conn):
    with transaction(conn):
        writes.save_positions(
            conn,
            positions=[PositionRow("ex", 0, 5, 9, 100), PositionRow("wo", 1, 2, 2, 50)],
            now_us=7,
        )
    with transaction(conn):
        writes.save_positions(conn, positions=[PositionRow("ex", 0, 6, None, None)], now_us=8)
    assert partitions(conn) == [("ex", 0, 6, 9, 100, 8), ("wo", 1, 2, 2, 50, 7)]


def test_high_watermarks_are_saved_for_the_partitions_named_only(conn):
    """Read back (the heartbeat that calls it swallows errors, so only a read shows a broken
    statement)."""
    with transaction(conn):
        writes.save_positions(
            conn,
            positions=[PositionRow("ex", 0, 5, 9, 100), PositionRow("ex", 1, 3, 3, 90)],
            now_us=7,
        )
        writes.save_high_watermarks(conn, rows=[(42, "ex", 0), (17, "wo", 0)])
    assert partitions(conn) == [("ex", 0, 5, 42, 100, 7), ("ex", 1, 3, 3, 90, 7)]


def test_a_topic_id_is_remembered_once_and_never_replaced(conn):
    with transaction(conn):
        writes.save_topic_ids(conn, ids=[("ex", b"\x01" * 16), ("wo", b"\x02" * 16)], now_us=5)
    with transaction(conn):
        writes.save_topic_ids(conn, ids=[("ex", b"\x09" * 16), ("er", b"\x03" * 16)], now_us=6)
    rows = conn.execute("SELECT topic, topic_id, seen_at_us FROM topic_ids ORDER BY topic")
    assert rows.fetchall() == [
        ("er", b"\x03" * 16, 6),
        ("ex", b"\x01" * 16, 5),
        ("wo", b"\x02" * 16, 5),
    ]


def test_assigned_partitions_are_replaced_as_a_whole(conn):
    with transaction(conn):
        writes.save_assigned(conn, rows=[("ex", 0, 0, 4), ("ex", 1, 2, None)], now_us=5)
        writes.save_assigned(conn, rows=[("wo", 0, 3, 8)], now_us=6)
    rows = conn.execute("SELECT * FROM assigned_partitions").fetchall()
    assert [tuple(r) for r in rows] == [("wo", 0, 3, 8, 6)]


def test_bump_counter_adds_to_a_named_counter(conn):
    with transaction(conn):
        writes.bump_counter(conn, name="test_counter")
        writes.bump_counter(conn, name="test_counter", by=4)
    assert meta(conn, "test_counter") == 5


def workout(user: str, workout_id: str, at: int) -> WorkoutRow:
    return WorkoutRow(user, workout_id, at, encode_exercises([[1, 3, 5, 50.0]]), 1)


@pytest.mark.parametrize("in_sql", [False, True], ids=["filtered in Python", "in SQL"])
def test_add_workouts_counts_the_new_and_skips_the_erased_up_to_their_erasure(
    conn, monkeypatch, in_sql
):
    """Both paths of `add_workouts` (a copy of erased_users, or `_ADD_UNLESS_ERASED` per
    row beyond MAX_HELD): a workout at the erasure's instant is not stored, one a
    microsecond after is."""
    if in_sql:
        monkeypatch.setattr(erasure, "MAX_HELD", 0)
    with transaction(conn):
        erasure.erase_user(conn, user_id="gone", erased_at_us=1_000, now_us=2_000)
    batch = [
        workout("u1", "a", 10),
        workout("u1", "b", 20),
        workout("gone", "c", 999),
        workout("gone", "d", 1_000),
        workout("gone", "e", 1_001),
    ]
    with transaction(conn):
        assert writes.add_workouts(conn, workouts=batch) == 3
        assert writes.add_workouts(conn, workouts=batch) == 0  # seen before
    rows = conn.execute("SELECT user_id, workout_id, completed_at_us FROM workouts ORDER BY 2")
    assert rows.fetchall() == [("u1", "a", 10), ("u1", "b", 20), ("gone", "e", 1_001)]


def exercise(revision: int) -> ExerciseRow:
    return ExerciseRow(7, f"Squat r{revision}", "d", 2, 40.0, 8, revision)


def test_an_exercise_upsert_or_delete_says_whether_it_changed_anything(conn):
    impact = ImpactRow(3, "Quads", "legs", True, 0.8)
    version = meta(conn, "catalog_version")
    with transaction(conn):
        assert writes.upsert_exercise(conn, exercise=exercise(2), impacts=[impact])
        assert not writes.upsert_exercise(conn, exercise=exercise(2), impacts=[])  # same rev
        assert not writes.upsert_exercise(conn, exercise=exercise(1), impacts=[])  # older
        assert not writes.delete_exercise(conn, exercise_id=7, revision=2)
    assert meta(conn, "catalog_version") == version + 1
    groups = conn.execute(
        "SELECT exercise_id, muscle_group_id, is_primary FROM exercise_muscle_groups"
    )
    assert groups.fetchall() == [(7, 3, 1)]
    with transaction(conn):
        assert writes.delete_exercise(conn, exercise_id=7, revision=3)
        assert not writes.delete_exercise(conn, exercise_id=8, revision=None)  # no such one
        assert writes.delete_exercise(conn, exercise_id=9, revision=1)  # before its upsert
        assert not writes.upsert_exercise(conn, exercise=exercise(1)._replace(id=9), impacts=[])
        assert writes.delete_exercise(conn, exercise_id=7, revision=4)  # deleted again
        assert writes.delete_exercise(conn, exercise_id=7, revision=None)  # a tombstone
    # a delete of a listed exercise only: not of one never listed, nor of one deleted already
    assert meta(conn, "catalog_version") == version + 2
    rows = conn.execute("SELECT id, revision, deleted FROM exercises ORDER BY id").fetchall()
    assert rows == [(7, 4, 1), (9, 1, 1)]
    assert conn.execute("SELECT count(*) FROM exercise_muscle_groups").fetchone()[0] == 0


def test_a_workout_delete_says_whether_it_changed_anything(conn):
    with transaction(conn):
        writes.add_workouts(conn, workouts=[workout("u1", "a", 10)])
        assert writes.delete_workout(conn, workout_id="a", user_id="u1", deleted_at_us=50)
        assert not writes.delete_workout(conn, workout_id="a", user_id="u1", deleted_at_us=40)
        assert writes.delete_workout(conn, workout_id="z", user_id="u1", deleted_at_us=60)
        assert not writes.delete_workout(conn, workout_id="z", user_id="u1", deleted_at_us=60)
    rows = conn.execute(
        "SELECT workout_id, completed_at_us, deleted, deleted_at_us FROM workouts ORDER BY 1"
    )
    assert rows.fetchall() == [("a", 10, 1, 50), ("z", 60, 1, 60)]
