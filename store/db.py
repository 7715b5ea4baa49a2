"""Opening the projection file, and transactions: every BEGIN, COMMIT and SAVEPOINT of
coach is in this module."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from store import private_files
from store.errors import Unreadable
from store.migrations import migrate

T = TypeVar("T")


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the projection at `path`.

    WAL journal with synchronous=NORMAL: an application crash loses nothing committed; a
    power loss may roll back the last commits, and since offsets are stored with the rows,
    those records are simply read again. `readonly` connections refuse writes (the api's).
    The file is created owner-only, or made so (store/private_files.py).
    """
    path = Path(path)
    if path.is_dir():
        raise Unreadable(f"{path} is a directory: the projection is a file (e.g. {path}/coach.db)")
    private_files.prepare(path)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA temp_store = MEMORY")
        migrate(conn)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if unreadable(exc):
            raise Unreadable(unreadable_message(path, exc)) from exc
        raise
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -32000")  # 32 MB per reader
    else:
        # The writer touches pages all over the user index: a large cache and fewer,
        # larger checkpoints keep it from re-reading and re-writing the same pages.
        conn.execute("PRAGMA cache_size = -262144")  # 256 MB
        conn.execute("PRAGMA wal_autocheckpoint = 10000")  # pages (~40 MB of WAL)
    return conn


def unreadable(exc: sqlite3.Error) -> bool:
    """Whether SQLite says the file itself is not a (sound) database: truncated, damaged,
    or something else altogether (not a lock, a full disk or an I/O error)."""
    return getattr(exc, "sqlite_errorcode", None) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def unreadable_message(path: str | Path, exc: sqlite3.Error) -> str:
    return (
        f"SQLite cannot read {path} ({exc}): the file is truncated or damaged (a snapshot or "
        "a copy not copied whole?), or it is not a projection. Copy it again, take a new "
        "`coach snapshot`, or rebuild it with `coach replay`."
    )


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def begin_read(conn: sqlite3.Connection) -> None:
    """Start a read transaction: the reads until `end_read` see one snapshot, and take the
    WAL read lock once instead of once per statement. One left open (by a failed COMMIT) is
    rolled back first: never read an old snapshot."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")
    conn.execute("BEGIN")


def end_read(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")


@contextmanager
def read_snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`begin_read` ... `end_read` around a block (the WOD route calls the two itself: no
    context manager to allocate per request)."""
    begin_read(conn)
    try:
        yield conn
    finally:
        end_read(conn)


def in_savepoint(
    conn: sqlite3.Connection,
    name: str,
    work: Callable[[], T],
    *,
    undo: Callable[[Exception], bool],
) -> T | Exception:
    """`work()` under SAVEPOINT `name`, inside the caller's transaction. A failure for which
    `undo(exc)` is true is rolled back to the savepoint and returned; any other propagates
    untouched (no second SQLite error to hide it): the caller's transaction rolls back."""
    conn.execute(f"SAVEPOINT {name}")
    try:
        done = work()
    except Exception as exc:
        if not undo(exc):
            raise
        conn.execute(f"ROLLBACK TO {name}")
        conn.execute(f"RELEASE {name}")
        return exc
    conn.execute(f"RELEASE {name}")
    return done


def open_as_is(path: str | Path, *, autocommit: bool = False) -> sqlite3.Connection:
    """A connection to the file as it is, at any schema version: no migration, no pragmas
    (reading another process's positions, copying the live file)."""
    private_files.prepare(path)
    if autocommit:
        return sqlite3.connect(path, timeout=10.0, isolation_level=None)
    return sqlite3.connect(path, timeout=10.0)


def copy_of(live_path: Path, copy_path: Path) -> sqlite3.Connection:
    """Copy the projection at `live_path` as it is (online backup) to `copy_path`; return a
    connection to the copy."""
    live = open_as_is(live_path)
    private_files.create(copy_path)
    copy = sqlite3.connect(copy_path, isolation_level=None)
    try:
        live.backup(copy)
    finally:
        live.close()
    return copy


def set_pragmas(conn: sqlite3.Connection, pragmas: Iterable[str]) -> None:
    """Apply `PRAGMA p` for each p (e.g. "synchronous = OFF" while a replay builds)."""
    for pragma in pragmas:
        conn.execute(f"PRAGMA {pragma}")


def small_cache(conn: sqlite3.Connection) -> None:
    """A reader's page cache (32 MB): for a connection that no longer writes batches."""
    conn.execute("PRAGMA cache_size = -32000")


def rollback_open(conn: sqlite3.Connection) -> None:
    """Roll back a transaction a failed COMMIT left open, if any."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def file_of(conn: sqlite3.Connection) -> str:
    """The path of the main database file (the file itself, not a link to it); "" in memory."""
    return conn.execute("PRAGMA database_list").fetchone()[2]


def checkpoint(conn: sqlite3.Connection) -> None:
    """Write the whole WAL into the database file and truncate it."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def probe(conn: sqlite3.Connection) -> None:
    """Read one page of the projection; raise sqlite3.Error when it cannot be read."""
    conn.execute("SELECT 1 FROM meta LIMIT 1").fetchall()
