"""store/erasure.py on a real file, at its edges: what an earlier erasure delivered late
reports when it only turns a marker bare and drops a performance, an erasure dated before
1970 reaching a backup, a file of a coach before erasures, and what `erased_before` reads
and keeps per connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import dead_letters, erasure
from store.db import connect, transaction


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


def erase(conn: sqlite3.Connection, user: str, at: int) -> bool:
    with transaction(conn):
        return erasure.erase_user(conn, user_id=user, erased_at_us=at, now_us=10_000)


def test_a_late_earlier_erasure_that_only_bares_a_marker_and_drops_a_performance_says_so(conn):
    """Rows left between an earlier erasure and the latest one (by an older coach, say): a
    marker of a workout completed before the erasure but deleted after it, and a
    performance. The earlier erasure, delivered late, turns the marker bare (completed at
    its delete, no exercises) and drops the performance: a change, stamped."""
    assert erase(conn, "u1", 1_000)
    with transaction(conn):
        conn.execute(
            """INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises,
                                     n_exercises, deleted, deleted_at_us)
               VALUES ('u1', 'w', 960, x'01', 1, 1, 1100)"""
        )
        conn.execute(
            """INSERT INTO performances (user_id, exercise_id, workout_id, completed_at_us,
                                         sets, reps, weight)
               VALUES ('u1', 3, 'w0', 950, 1, 1, 1.0)"""
        )
    assert erase(conn, "u1", 900)
    assert erasure.erasure_seq(conn) == 2
    marker = conn.execute(
        "SELECT completed_at_us, exercises, n_exercises, deleted, deleted_at_us FROM workouts"
    ).fetchall()
    assert marker == [(1100, None, 0, 1, 1100)]
    assert conn.execute("SELECT count(*) FROM performances").fetchone()[0] == 0


@pytest.mark.parametrize("at", [-1, -86_400_000_000, 0, 1])
def test_erase_missing_applies_an_erasure_dated_at_or_before_1970(tmp_path, at):
    """An erasure's instant is its CloudEvents `time` (events/erasure_time.py), which may be
    before 1970 ("1969-12-31T23:59:59Z" is -1 µs): a backup that lacks the erasure gets it
    all the same, its dead letters naming the user redacted with it."""
    backup = connect(tmp_path / "backup.db")
    try:
        with transaction(backup):
            assert dead_letters.add_dead_letter(
                backup,
                topic="t",
                partition=0,
                offset=0,
                key=b"u1",
                value=b'{"data":{"user_id":"u1"}}',
                error="bad",
                failed_at_us=5,
            )
        with transaction(backup):
            assert erasure.erase_missing(backup, erased={"u1": at}, now_us=7) == 1
        assert erasure.erasures(backup) == {"u1": at}
        letter = backup.execute("SELECT key, value, redacted_at_us FROM dead_letters")
        assert letter.fetchall() == [(None, None, 7)]
        with transaction(backup):
            assert erasure.erase_missing(backup, erased={"u1": at}, now_us=8) == 0
    finally:
        backup.close()


def test_a_file_of_a_coach_before_erasures_has_none(tmp_path):
    """A file at schema 4 (before erasures: no `erasure_seq` nor `erasure_version` in its
    meta, no `erased_users`), read as it is: stamp 0 and no one erased, not an error."""
    from store.migrations import MIGRATIONS

    old = sqlite3.connect(tmp_path / "old.db", isolation_level=None)
    try:
        for step in MIGRATIONS[:4]:
            step(old)
        old.execute("PRAGMA user_version = 4")
        assert erasure.erasure_seq(old) == 0
        assert erasure.erased_before(old) == {}
    finally:
        old.close()


def statements(conn: sqlite3.Connection, call) -> list[str]:  # type: ignore[no-untyped-def]
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    return seen


def test_erased_before_reads_one_row_when_no_one_was_erased_or_its_copy_is_current(conn):
    """Called for every run of workouts the consumer stores: with no erasure ever, and with
    a copy of the current version held, it reads `meta.erasure_version` and nothing else."""
    assert statements(conn, lambda: erasure.erased_before(conn)) == [
        "SELECT value FROM meta WHERE name = 'erasure_version'"
    ]
    assert erase(conn, "a", 1_000)
    assert len(statements(conn, lambda: erasure.erased_before(conn))) == 3  # count, copy
    assert len(statements(conn, lambda: erasure.erased_before(conn))) == 1
    assert erasure.erased_before(conn) == {"a": 1_000}


def test_at_most_sixteen_connections_copies_are_kept(db_path, monkeypatch):
    """The copies are kept per connection id, and connections come and go: past 16 held,
    the copies are dropped (and read again when asked), so memory stays bounded."""
    monkeypatch.setattr(erasure, "_held", {})
    conns = [connect(db_path) for _ in range(20)]
    try:
        assert erase(conns[0], "a", 1_000)
        sizes = []
        for c in conns:
            assert erasure.erased_before(c) == {"a": 1_000}
            sizes.append(len(erasure._held))
        assert sizes == [*range(1, 17), 1, 2, 3, 4]
        assert erasure.erased_before(conns[0]) == {"a": 1_000}  # dropped: read again
    finally:
        for c in conns:
            c.close()
