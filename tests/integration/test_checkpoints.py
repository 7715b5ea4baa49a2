"""WAL checkpoints beside the commits (store/checkpoints.py), on a real SQLite file: a
connection set off the commit path never copies the WAL into the database file in its
commits, and the checkpoint thread does."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from store.checkpoints import Checkpoints, off_the_commit_path
from store.db import connect


def _main_file_rows(path: Path) -> int:
    """Rows of `t` in the database file itself, WAL not read (what a checkpoint copied)."""
    conn = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.OperationalError:  # the table itself is still only in the WAL
        return 0
    finally:
        conn.close()


def _write(conn: sqlite3.Connection, rows: int) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)")
    for _ in range(0, rows, 500):
        with conn:
            conn.executemany("INSERT INTO t (v) VALUES (?)", [(bytes(1000),) for _ in range(500)])
    # far past SQLite's default autocheckpoint (1,000 pages): 4 MB of WAL at least


def test_a_connection_off_the_commit_path_never_checkpoints_in_its_commits(
    db_path: Path,
) -> None:
    conn = connect(db_path)
    conn.execute("PRAGMA wal_autocheckpoint = 1000")
    off_the_commit_path(conn)
    try:
        _write(conn, 8_000)
        assert _main_file_rows(db_path) == 0  # every row is still in the WAL only
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == 8_000
    finally:
        conn.close()


def test_the_checkpoint_thread_copies_the_wal_while_commits_go_on(db_path: Path) -> None:
    conn = connect(db_path)
    off_the_commit_path(conn)
    checkpoints = Checkpoints(str(db_path), every=0.05).start()
    try:
        _write(conn, 8_000)
        written = checkpoints.done
        deadline = time.monotonic() + 30
        while checkpoints.done < written + 2 and time.monotonic() < deadline:
            time.sleep(0.05)  # a whole checkpoint that started after the last commit
        checkpoints.stop()  # not writing the file while it is read below
        assert _main_file_rows(db_path) == 8_000
    finally:
        checkpoints.stop()
        conn.close()


def test_stopping_the_thread_returns_at_once(db_path: Path) -> None:
    connect(db_path).close()
    checkpoints = Checkpoints(str(db_path), every=3600).start()
    started = time.monotonic()
    checkpoints.stop()
    assert time.monotonic() - started < 5  # not after the hour it would wait


def test_a_failing_checkpoint_is_said_once_not_every_time(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "not-a-database"
    path.write_bytes(b"x" * 8192)  # every checkpoint fails: "file is not a database"
    caplog.set_level(logging.DEBUG, logger="store.checkpoints")
    checkpoints = Checkpoints(str(path), every=0.01).start()
    deadline = time.monotonic() + 10
    while len(caplog.records) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    checkpoints.stop()
    assert len(caplog.records) >= 5  # tried again and again
    assert [r.levelno for r in caplog.records].count(logging.WARNING) == 1
    assert checkpoints.failing and checkpoints.done == 0
