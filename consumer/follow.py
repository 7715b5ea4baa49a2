"""Following a replay's swap: `coach replay` builds a new projection file and swaps it in
under the live name; the consumer notices and carries on with the new file."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from store import files
from store.db import connect

log = logging.getLogger(__name__)


class LiveFile:
    """The live projection's name (`COACH_DB_PATH`) and the file it named when opened."""

    def __init__(self, path: Path, identity: tuple[int, int] | None) -> None:
        self.path = path
        self.identity = identity

    @classmethod
    def open(cls, path: Path) -> tuple[LiveFile, sqlite3.Connection]:
        conn, identity = files.open_live(path, connect)
        return cls(path, identity), conn

    def swapped(self) -> bool:
        """Whether a replay has swapped another file in under the name."""
        now = files.identity(self.path)
        return now is not None and now != self.identity

    def reopen(self) -> sqlite3.Connection:
        """A connection to the file the name holds now."""
        conn, self.identity = files.open_live(self.path, connect)
        log.info(
            "projection %s was swapped by a replay; continuing with %s from its offsets",
            self.path,
            files.live_file(self.path),
        )
        return conn
