"""Erasures reach the projection's other files: the earlier generations and backups that
replays kept beside the live one (store/files.py `other_generations`: only the names coach
gives them, never a snapshot or another file whose name starts with the projection's).
Run by the consumer's schedule (consumer/fold_schedule.py) when the live projection applied
a new erasure or a new file appeared: each such file gets every erasure it lacks, in one
transaction. A file that cannot be opened or migrated is named in the log, to be
removed by the operator (docs/PRIVACY.md)."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from store import erasure, files
from store.db import connect, transaction
from store.errors import StoreError

log = logging.getLogger(__name__)


class BackupEraser:
    def __init__(self, db_path: Path) -> None:
        self.db_path = db_path
        self._done: tuple[int, tuple[Path, ...]] | None = None
        """The live erasure stamp and the files it was applied to at the last pass."""

    def run(self, live: sqlite3.Connection, now_us: int) -> int:
        """Bring every other file up to the live projection's erasures; returns how many
        users were erased in them."""
        others = tuple(files.other_generations(self.db_path))
        state = (erasure.erasure_seq(live), others)
        if state == self._done:
            return 0
        erased = erasure.erasures(live)
        total = 0
        for other in others:
            try:
                total += _erase_in(other, erased, now_us)
            except (sqlite3.Error, StoreError, OSError) as exc:
                log.error(
                    "could not apply erasures to %s (%s): remove it, it may hold erased "
                    "users' data",
                    other,
                    exc,
                )
        self._done = state  # (a file that failed is tried again with the next change)
        return total


def _erase_in(path: Path, erased: dict[str, int], now_us: int) -> int:
    conn = connect(path)  # (brings an older file's schema up to date)
    try:
        with transaction(conn):
            return erasure.erase_missing(conn, erased=erased, now_us=now_us)
    finally:
        conn.close()
