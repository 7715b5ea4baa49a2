"""store/erasure.py called directly on a real file: what a redelivered, later or earlier
erasure changes, `erase_missing`'s counts, `erased_among` over several users, and the copy of
`erased_users` that `erased_before` keeps per connection."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import erasure
from store.db import connect, transaction


@pytest.fixture
def conn(db_path: Path) -> Iterator[sqlite3.Connection]:
    c = connect(db_path)
    yield c
    c.close()


def meta(conn: sqlite3.Connection, name: str) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()[0]


def erase(conn: sqlite3.Connection, user: str, at: int) -> bool:
    with transaction(conn):
        return erasure.erase_user(conn, user_id=user, erased_at_us=at, now_us=at + 1)


def test_a_redelivered_erasure_changes_nothing(conn):
    """Same user, same instant: no new stamp, no new version (readers would redo work)."""
    assert erase(conn, "u1", 1_000)
    seq, version = meta(conn, "erasure_seq"), meta(conn, "erasure_version")
    assert (seq, erasure.erasure_seq(conn)) == (1, 1) and version != 0
    assert not erase(conn, "u1", 1_000)
    assert not erase(conn, "u1", 900)  # an earlier one: the later instant stands
    assert (meta(conn, "erasure_seq"), meta(conn, "erasure_version")) == (seq, version)
    assert erasure.erasures(conn) == {"u1": 1_000}


def test_a_later_erasure_is_a_new_stamp_and_moves_the_instant(conn):
    assert erase(conn, "u1", 1_000)
    assert erase(conn, "u2", 1_000)
    assert erase(conn, "u1", 2_000)
    assert erasure.erasure_seq(conn) == 3
    assert erasure.erasures(conn) == {"u1": 2_000, "u2": 1_000}
    assert sorted(erasure.erased_since(conn, seq=0)) == ["u1", "u2"]
    assert erasure.erased_since(conn, seq=2) == ["u1"]
    assert erasure.erased_since(conn, seq=3) == []


def test_an_earlier_erasure_that_removes_rows_keeps_the_later_instant(conn):
    """A row between an earlier erasure and the latest one (left by an older version of
    coach, say) is removed by the earlier erasure delivered late, up to the latest
    instant; the erasure is stamped but never moves the instant back."""
    assert erase(conn, "u1", 1_000)
    with transaction(conn):
        conn.execute(
            """INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises,
                                     n_exercises) VALUES ('u1', 'old', 950, '[]', 0)"""
        )
    assert erase(conn, "u1", 900)
    assert conn.execute("SELECT count(*) FROM workouts").fetchone()[0] == 0
    assert erasure.erasures(conn) == {"u1": 1_000}
    assert erasure.erasure_seq(conn) == 2


def test_erase_missing_counts_the_users_it_erased_and_is_idempotent(conn):
    assert erase(conn, "held", 1_000)
    wanted = {"held": 1_000, "new": 500, "moved": 700}
    assert erase(conn, "moved", 600)
    with transaction(conn):
        assert erasure.erase_missing(conn, erased=wanted, now_us=5_000) == 2  # new, moved
    with transaction(conn):
        assert erasure.erase_missing(conn, erased=wanted, now_us=6_000) == 0
    assert erasure.erasures(conn) == wanted


def test_erased_among_names_each_erased_user_of_several(conn):
    assert erasure.erased_among(conn, {"a", "b"}) == set()  # no one erased
    assert erase(conn, "a", 1_000)
    assert erase(conn, "c", 1_000)
    assert erasure.erased_among(conn, {"a", "b", "c", "d"}) == {"a", "c"}
    assert erasure.erased_among(conn, ["c"]) == {"c"}
    assert erasure.erased_among(conn, set()) == set()
    assert erasure.any_erased(conn)


def test_erased_before_is_read_once_per_version_and_again_after_an_erasure(db_path, conn):
    assert erasure.erased_before(conn) == {}
    assert erase(conn, "a", 1_000)
    first = erasure.erased_before(conn)
    assert first == {"a": 1_000}
    assert erasure.erased_before(conn) is first  # the same copy: not read again
    other = connect(db_path)  # an erasure by another connection changes the version
    try:
        assert erase(other, "b", 2_000)
    finally:
        other.close()
    again = erasure.erased_before(conn)
    assert again == {"a": 1_000, "b": 2_000} and again is not first


def test_erased_before_gives_up_beyond_max_held(conn, monkeypatch):
    monkeypatch.setattr(erasure, "MAX_HELD", 2)
    assert erase(conn, "a", 1_000)
    assert erase(conn, "b", 1_000)
    assert erasure.erased_before(conn) == {"a": 1_000, "b": 1_000}  # at the limit: held
    assert erase(conn, "c", 1_000)
    assert erasure.erased_before(conn) is None  # beyond it: filter in SQL


def test_max_held_is_two_hundred_thousand():
    assert erasure.MAX_HELD == 200_000


def test_removing_the_highest_rowid_bumps_the_rowid_epoch(conn):
    """Readers of changes (store/changes.py) must not take a new row for one they saw when
    the erasure removed the row of the highest rowid: `meta.rowid_epoch` grows then, and
    only then."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises, n_exercises)"
            " VALUES (?, ?, ?, ?, 0)",
            [("u1", "w1", 100, b""), ("u2", "w2", 100, b"")],
        )
    epoch = meta(conn, "rowid_epoch")
    assert erase(conn, "u1", 1_000)  # w1: not the highest rowid
    assert meta(conn, "rowid_epoch") == epoch
    assert erase(conn, "u2", 1_000)  # w2: the highest
    assert meta(conn, "rowid_epoch") == epoch + 1
