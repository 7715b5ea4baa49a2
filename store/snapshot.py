"""Snapshots of a live projection, and the checks a replica makes before starting from one.

`take` copies the live projection with SQLite's online backup API in one step: the copy
reads one consistent snapshot of the file (one read transaction, WAL mode: the consumer
keeps committing and the api keeps reading meanwhile; nothing pauses). The rows and the
offsets they were built from (`partitions`) are in the same file, and the topic ids
(`topic_ids`) with them, so the copy is a projection at known offsets: a replica started on
it reads on from there. The copy is made self-contained (rollback journal, no `-wal`), its
consumer status is cleared (a new replica is not ready before its own consumer has
reported), it is marked as a snapshot, checked (`quick_check`) and given its name only
when complete.

`refusals` is what the consumer checks of an existing file before reading on
(consumer/bootstrap.py): the file holds offsets of its own topics only and, for a snapshot
on its first start, SQLite's quick check passes. The schema version is checked by
`store.db.connect` (older versions migrate, newer are refused), the partitions and topic
ids against the broker's by the consumer (consumer/assignment.py), offsets out of
retention by the fetch (consumer/loop.py).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from store.checks import integrity
from store.db import open_as_is
from store.files import SIDE_FILES
from store.private_files import create as create_private
from store.private_files import make_dirs

TAKEN_AT = "snapshot_taken_at_us"
"""meta row: when the snapshot was taken (epoch microseconds); absent in other files."""
CHECKED_AT = "snapshot_checked_at_us"
"""meta row: when a consumer first checked the snapshot and started reading on from it."""


class SnapshotError(Exception):
    """The snapshot could not be taken (nothing is left at the destination)."""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    bytes: int
    seconds: float
    offsets: dict[tuple[str, int], int]
    schema_version: int


def stored_topics(conn: sqlite3.Connection) -> set[str]:
    """Every topic the projection holds offsets, assignments or ids of."""
    return {
        row[0]
        for row in conn.execute(
            """SELECT topic FROM partitions UNION SELECT topic FROM assigned_partitions
               UNION SELECT topic FROM topic_ids"""
        )
    }


def foreign_topics(conn: sqlite3.Connection, topics: Collection[str]) -> list[str]:
    """The topics the projection was read from that are not among `topics` (pure read)."""
    return sorted(stored_topics(conn) - set(topics))


def _partial(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.partial")


def take(live: Path, dest: Path, *, now_us: int) -> Snapshot:
    """Copy the projection at `live` (a file or the link a replay made) to `dest`, which
    must not exist. See the module's docstring."""
    live, dest = Path(live), Path(dest)
    if not live.exists():
        raise SnapshotError(f"no projection at {live}")
    if dest.resolve() == live.resolve():
        raise SnapshotError(f"{dest} is the live projection")
    if dest.exists() or dest.is_symlink():
        raise SnapshotError(f"{dest} exists: remove it first, or choose another name")
    make_dirs(dest.parent)
    partial = _partial(dest)
    _remove(partial)
    create_private(partial)  # owner-only (store/private_files.py); the link keeps the mode
    started = time.monotonic()
    source = open_as_is(live)
    copy = sqlite3.connect(partial, isolation_level=None)
    try:
        try:
            # pages=-1: all pages in one step, under one read transaction of the source:
            # a consistent copy however busy the writer is (a stepwise backup restarts
            # whenever another connection writes the source).
            source.backup(copy, pages=-1)
        finally:
            source.close()
        copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        copy.execute("BEGIN IMMEDIATE")
        copy.execute(
            """UPDATE consumer_status
               SET heartbeat_at_us = NULL, broker_reachable = 0, last_error = NULL"""
        )
        copy.execute("DELETE FROM meta WHERE name = ?", (CHECKED_AT,))
        copy.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (TAKEN_AT, now_us))
        copy.execute("COMMIT")
        problems = integrity(copy, quick=True)
        if problems:
            raise SnapshotError(f"the copy failed SQLite's quick check: {problems[:5]}")
        offsets = {
            (t, p): o
            for t, p, o in copy.execute("SELECT topic, partition, next_offset FROM partitions")
        }
        version = copy.execute("PRAGMA user_version").fetchone()[0]
        copy.close()
        with open(partial, "rb") as f:
            os.fsync(f.fileno())
        try:
            os.link(partial, dest)  # fails if dest appeared meanwhile: never replaced
        except FileExistsError:
            raise SnapshotError(f"{dest} appeared while the snapshot was taken") from None
        except OSError:  # a file system without hard links
            if dest.exists():
                raise SnapshotError(f"{dest} appeared while the snapshot was taken") from None
            os.rename(partial, dest)
        _remove(partial)
        _fsync_dir(dest.parent)
    except BaseException:
        with contextlib.suppress(sqlite3.Error):
            copy.close()
        _remove(partial)
        raise
    return Snapshot(dest, dest.stat().st_size, time.monotonic() - started, offsets, version)


def is_unchecked_snapshot(conn: sqlite3.Connection) -> bool:
    """A file made by `take` that no consumer has started from yet."""
    names = {
        r[0]
        for r in conn.execute("SELECT name FROM meta WHERE name IN (?, ?)", (TAKEN_AT, CHECKED_AT))
    }
    return TAKEN_AT in names and CHECKED_AT not in names


def taken_at_us(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (TAKEN_AT,)).fetchone()
    return None if row is None else int(row[0])


def assigned_starts(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
    """Where the file's consumer started each partition it was last assigned (the first
    offset the broker had then, for one it read from the beginning)."""
    return {
        (t, p): start
        for t, p, start in conn.execute(
            "SELECT topic, partition, start_offset FROM assigned_partitions"
        )
    }


def refusals(conn: sqlite3.Connection, topics: Collection[str]) -> list[str]:
    """Why the projection at `conn` must not be read on with `topics` (empty: it may). A
    snapshot on its first start is also run through SQLite's quick check."""
    why = []
    foreign = foreign_topics(conn, topics)
    if foreign:
        why.append(
            f"it holds offsets of topic(s) {', '.join(foreign)}, not of the configured "
            f"topics ({', '.join(sorted(topics))}, COACH_TOPIC_EXERCISES and "
            "COACH_TOPIC_WORKOUTS): it is a projection (or snapshot) of other topics"
        )
    if is_unchecked_snapshot(conn):
        problems = integrity(conn, quick=True)
        if problems:
            why.append(f"it fails SQLite's quick check: {'; '.join(problems[:5])}")
    return why


def mark_checked(conn: sqlite3.Connection, *, now_us: int) -> None:
    """Record that a consumer checked this snapshot (the quick check is not run again)."""
    conn.execute("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (CHECKED_AT, now_us))


def _remove(path: Path) -> None:
    for p in (path, *(path.with_name(path.name + s) for s in SIDE_FILES)):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
