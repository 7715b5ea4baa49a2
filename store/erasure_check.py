"""What a projection still holds of one user, to check an erasure (`coach erasure check`).

An erased user has a row in `erased_users` and nothing else: no workouts (deleted markers
included), no performances, and no dead letter that names them with its key or value kept
(their letters are kept redacted: place and reason only). Read in one snapshot.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from events.personal import users_named
from store.db import read_snapshot


@dataclass(frozen=True, slots=True)
class Remains:
    user_id: str
    erased_at_us: int | None
    """When the erasure applied says the user was erased; None: not erased here."""
    workouts: int
    performances: int
    dead_letters: int
    """Dead letters naming the user with their key or value still kept."""

    @property
    def erased(self) -> bool:
        """Erased, and nothing of the user's left."""
        return self.erased_at_us is not None and not (
            self.workouts or self.performances or self.dead_letters
        )


_TABLES = ("workouts", "performances")
"""The tables that hold rows of a user (deleted workout markers are rows of `workouts`)."""


def _count(conn: sqlite3.Connection, table: str, user_id: str) -> int:
    # `table` is one of _TABLES, never a value from outside
    sql = f"SELECT count(*) FROM {table} WHERE user_id = ?"  # nosec B608
    return conn.execute(sql, (user_id,)).fetchone()[0]


def remains(conn: sqlite3.Connection, *, user_id: str) -> Remains:
    with read_snapshot(conn):
        row = conn.execute(
            "SELECT erased_at_us FROM erased_users WHERE user_id = ?", (user_id,)
        ).fetchone()
        workouts, performances = (_count(conn, table, user_id) for table in _TABLES)
        letters = sum(
            1
            for key, value in conn.execute(
                "SELECT key, value FROM dead_letters WHERE redacted_at_us IS NULL"
            )
            if user_id in users_named(key, value)
        )
    return Remains(user_id, None if row is None else row[0], workouts, performances, letters)
