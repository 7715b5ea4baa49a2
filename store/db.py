"""Opening the projection file, and transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from store.migrations import migrate


def connect(path: str | Path, *, readonly: bool = False) -> sqlite3.Connection:
    """Open (creating and migrating if needed) the projection at `path`.

    WAL journal with synchronous=NORMAL: an application crash loses nothing committed; a
    power loss may roll back the last commits, and since offsets are stored with the rows,
    those records are simply read again. `readonly` connections refuse writes (the api's).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA busy_timeout = 10000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    migrate(conn)
    if readonly:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("PRAGMA cache_size = -32000")  # 32 MB per reader
    else:
        # The writer touches pages all over the user index: a large cache and fewer,
        # larger checkpoints keep it from re-reading and re-writing the same pages.
        conn.execute("PRAGMA cache_size = -262144")  # 256 MB
        conn.execute("PRAGMA wal_autocheckpoint = 10000")  # pages (~40 MB of WAL)
    return conn


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
