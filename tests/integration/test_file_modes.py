"""Files that hold personal data (the projection, its -wal and -shm, snapshots, a replay's
files and backups) are owner-only whatever the umask (store/private_files.py), on real
SQLite files."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import files, snapshot
from store.db import connect, copy_of, transaction


@pytest.fixture
def umask_022() -> Iterator[None]:
    """The usual umask, under which a plain open() makes files world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def _mode(path: Path) -> str:
    return oct(stat.S_IMODE(os.lstat(path).st_mode))


def _modes(root: Path) -> dict[str, str]:
    """Every file and directory under `root` (links left out: their mode means nothing)."""
    return {
        str(p.relative_to(root)): _mode(p) for p in sorted(root.rglob("*")) if not p.is_symlink()
    }


def _write(conn: sqlite3.Connection) -> None:
    with transaction(conn):
        conn.execute(
            "INSERT INTO workouts (user_id, workout_id, completed_at_us, exercises) "
            "VALUES ('7', 'w1', 0, x'00')"
        )


def test_every_file_coach_makes_is_owner_only_under_umask_022(tmp_path: Path, umask_022):
    """The projection with its -wal and -shm, a snapshot, a rebuilt generation, the backup
    a swap keeps and a replay's copy of the live file: 0600; directories coach makes: 0700."""
    live = tmp_path / "data" / "sub" / "coach.db"
    conn = connect(live)  # creates data/ and data/sub/
    _write(conn)
    reader = connect(live, readonly=True)
    assert live.with_name("coach.db-wal").exists() and live.with_name("coach.db-shm").exists()
    taken = snapshot.take(live, tmp_path / "snaps" / "s.db", now_us=1)
    new = files.new_generation(live)
    building = files.building_path(new)
    built = connect(building)
    _write(built)
    copy = copy_of(live, live.with_name("copy.live-snapshot.building"))
    copy.close()
    swapped = files.swap(live, files.finish(built, building))
    assert swapped.backup is not None and swapped.backup.exists()
    with files.replay_lock(live):
        modes = _modes(tmp_path)
    reader.close()
    conn.close()
    assert taken.path.exists()
    dirs = {"data", "data/sub", "snaps"}
    assert {k: v for k, v in modes.items() if k in dirs} == dict.fromkeys(dirs, "0o700")
    assert {k: v for k, v in modes.items() if k not in dirs} == dict.fromkeys(
        set(modes) - dirs, "0o600"
    ), modes
    assert "data/sub/coach.db-wal" in modes and "data/sub/coach.db-shm" in modes


def test_world_readable_files_are_tightened_when_opened_and_logged(
    tmp_path: Path, umask_022, caplog: pytest.LogCaptureFixture
):
    """A projection made by an older coach (0644, with its -wal and -shm) becomes 0600 when
    a coach process opens it, through the link a replay made too; the log names each file."""
    old = tmp_path / "coach.db.20261201T000000000000Z"
    raw = sqlite3.connect(old, isolation_level=None)
    raw.execute("PRAGMA journal_mode = WAL")
    raw.execute("CREATE TABLE t (x)")
    raw.execute("INSERT INTO t VALUES (1)")  # leaves -wal and -shm while `raw` is open
    live = tmp_path / "coach.db"
    live.symlink_to(old.name)
    side = [old, old.with_name(old.name + "-wal"), old.with_name(old.name + "-shm")]
    assert [_mode(p) for p in side] == ["0o644"] * 3
    with caplog.at_level(logging.WARNING, logger="store.private_files"):
        connect(live).close()
    raw.close()
    assert {_mode(p) for p in side if p.exists()} == {"0o600"} and _mode(old) == "0o600"
    logged = [r.getMessage() for r in caplog.records]
    for p in side:
        assert any(str(p) in m and "readable by others" in m for m in logged), logged
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="store.private_files"):
        connect(live).close()
    assert not caplog.records, "a file already 0600 was reported again"


def test_a_directory_at_the_projections_path_is_refused_and_left_as_it_is(tmp_path: Path):
    """COACH_DB_PATH naming a directory: a clear refusal naming it (not SQLite's "unable to
    open database file"), and its mode is not touched (only files are tightened)."""
    from store.errors import Unreadable

    directory = tmp_path / "data"
    directory.mkdir()
    directory.chmod(0o755)
    with pytest.raises(Unreadable, match=f"{directory} is a directory"):
        connect(directory)
    assert _mode(directory) == "0o755"


def test_a_link_whose_file_is_gone_gets_an_owner_only_file(tmp_path: Path, umask_022):
    """COACH_DB_PATH a link to a generation that was removed: SQLite creates the file the
    link names, and it is 0600 like any other (not 0644 from the umask)."""
    live = tmp_path / "coach.db"
    live.symlink_to("coach.db.20261201T000000000000Z")
    conn = connect(live)
    _write(conn)
    target = tmp_path / "coach.db.20261201T000000000000Z"
    assert {_mode(p) for p in tmp_path.iterdir() if not p.is_symlink()} == {"0o600"}
    assert target.exists() and _mode(target) == "0o600"
    conn.close()
