"""`store.snapshot.take` on real SQLite files: consistent (rows and offsets of one moment)
while a writer commits and a reader reads, self-contained, and the checks a replica makes
of it before reading on."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from store import snapshot
from store.checks import checksums
from store.db import connect, transaction

TOPICS = ("t.exercises", "t.workouts")


def _commit(conn: sqlite3.Connection, start: int, rows: int) -> None:
    """One batch as the consumer commits it: rows and the partition's next offset together
    (records `start` to `start + rows - 1`)."""
    with transaction(conn):
        conn.executemany(
            "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises) "
            "VALUES (?, ?, 0, x'00')",
            [(f"u{(start + i) % 5000}", f"w{start + i}") for i in range(rows)],
        )
        conn.execute(
            """INSERT INTO partitions (topic, partition, next_offset, updated_at_us)
               VALUES ('t.workouts', 0, ?, 0)
               ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset""",
            (start + rows,),
        )


@pytest.mark.slow  # `make check` skips it
def test_a_snapshot_under_writes_and_reads_is_consistent_and_pauses_nothing(tmp_path):
    live = tmp_path / "live.db"
    writer = connect(live)
    for n in range(100):  # 200,000 rows: a copy that takes a moment
        _commit(writer, n * 2000, 2000)
    commits = [0]
    reads = [0]
    stop = threading.Event()

    def write() -> None:
        start = 200_000
        while not stop.is_set():
            _commit(writer, start, 200)
            commits[0] += 1
            start += 200

    def read() -> None:
        reader = connect(live, readonly=True)
        while not stop.is_set():
            reader.execute("SELECT count(*) FROM workouts WHERE user_id = 'u7'").fetchone()
            reads[0] += 1
        reader.close()

    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    before = (commits[0], reads[0])
    taken = snapshot.take(live, tmp_path / "snap.db", now_us=123)
    during = (commits[0] - before[0], reads[0] - before[1])
    stop.set()
    for t in threads:
        t.join()
    writer.close()
    # Nothing paused: the writer committed and the reader read while the copy was made.
    assert during[0] > 0 and during[1] > 0, (during, taken.seconds)
    # Self-contained: one file, no WAL; consistent: its rows are exactly its offsets'.
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("snap")) == ["snap.db"]
    copy = sqlite3.connect(tmp_path / "snap.db")
    assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    rows = copy.execute("SELECT count(*) FROM workouts").fetchone()[0]
    assert taken.offsets == {("t.workouts", 0): rows}
    assert rows >= 200_000
    assert copy.execute("SELECT heartbeat_at_us FROM consumer_status").fetchone()[0] is None
    assert snapshot.is_unchecked_snapshot(copy) and snapshot.taken_at_us(copy) == 123
    copy.close()


def test_take_never_replaces_a_file_and_leaves_nothing_when_it_fails(tmp_path):
    live = tmp_path / "live.db"
    connect(live).close()
    (tmp_path / "there.db").write_bytes(b"keep")
    with pytest.raises(snapshot.SnapshotError, match="exists"):
        snapshot.take(live, tmp_path / "there.db", now_us=1)
    assert (tmp_path / "there.db").read_bytes() == b"keep"
    with pytest.raises(snapshot.SnapshotError, match="live projection"):
        snapshot.take(live, live, now_us=1)
    with pytest.raises(snapshot.SnapshotError, match="no projection"):
        snapshot.take(tmp_path / "none.db", tmp_path / "s.db", now_us=1)
    assert not list(tmp_path.glob("*partial*"))


def test_checks_before_reading_on(tmp_path):
    live = tmp_path / "live.db"
    conn = connect(live)
    _commit(conn, 0, 50)
    conn.close()
    snapshot.take(live, tmp_path / "snap.db", now_us=1)
    conn = connect(tmp_path / "snap.db")
    assert snapshot.refusals(conn, TOPICS) == []
    (why,) = snapshot.refusals(conn, ("t.exercises", "other.workouts"))
    assert "t.workouts" in why and "other topics" in why
    # The same rows as the live file: the checksums the replay compares.
    live_conn = connect(live, readonly=True)
    assert checksums(conn) == checksums(live_conn)
    live_conn.close()
    conn.close()


def test_a_damaged_snapshot_fails_its_quick_check_until_checked_once(tmp_path: Path):
    live = tmp_path / "live.db"
    conn = connect(live)
    for n in range(20):
        _commit(conn, n * 500, 500)
    conn.close()
    snap = tmp_path / "snap.db"
    snapshot.take(live, snap, now_us=1)
    raw = bytearray(snap.read_bytes())
    page = 4096
    for i in range(page * 3, len(raw) - page, page * 7):  # garble pages of the index and table
        raw[i + 100 : i + 400] = b"\xff" * 300
    snap.write_bytes(bytes(raw))
    conn = sqlite3.connect(snap, isolation_level=None)
    why = snapshot.refusals(conn, TOPICS)
    assert why and "quick check" in why[0]
    snapshot.mark_checked(conn, now_us=2)  # a file a consumer started from: not checked again
    assert snapshot.refusals(conn, TOPICS) == []
    conn.close()
