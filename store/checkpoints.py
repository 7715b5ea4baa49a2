"""WAL checkpoints off the commit path: a thread of the writer process copies the WAL into
the database file while batches go on being committed.

SQLite checkpoints a WAL file by default in the COMMIT that takes it past
`wal_autocheckpoint` pages: that commit then writes the WAL's pages into the database file
and syncs it. With the writer's 10,000 pages (~40 MB) that took 180-260 ms every ~10 s at
2,000 workouts a second, and every record fetched meanwhile waited: the slowest
publish-to-WOD times (bench/freshness.py, issue 28). A PASSIVE checkpoint needs no lock a
writer holds, so run from another connection in a thread (Python's sqlite3 releases the GIL
while SQLite works) it runs beside the commits instead of inside one. The WAL is still
reset to its start by the first commit after a checkpoint that copied all of it.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

EVERY_SECONDS = 1.0
"""How often the thread checkpoints: at 2,000 workouts a second, about 4 MB of WAL each time."""


class Checkpoints:
    """A daemon thread that checkpoints the WAL of `path` every `every` seconds (PASSIVE: it
    waits for no one and copies what no reader still needs)."""

    def __init__(self, path: str, every: float = EVERY_SECONDS) -> None:
        self.path = path
        self.every = every
        self.done = 0
        self.failing = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoints", daemon=True)

    def start(self) -> Checkpoints:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            while not self._stop.wait(self.every):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error as exc:  # a full disk, an I/O error: tried again next time
                    # Said once, not every second: the writer's own failed commits are what
                    # the log and /ready report.
                    level = logging.DEBUG if self.failing else logging.WARNING
                    log.log(level, "WAL checkpoint failed, tried every %g s: %s", self.every, exc)
                    self.failing = True
                    continue
                if self.failing:
                    log.info("WAL checkpoints work again")
                    self.failing = False
                self.done += 1
        finally:
            conn.close()


def off_the_commit_path(conn: sqlite3.Connection) -> None:
    """Never checkpoint in `conn`'s commits (the writer's, with a `Checkpoints` thread
    beside it, and the consumer's own connection, whose commits run on its event loop)."""
    conn.execute("PRAGMA wal_autocheckpoint = 0")
