"""Which users' workouts or performances changed: for the api's per-user caches.

A change is one of:
- a changed workout row: a workout completed is a new row, and a workout deleted becomes
  a marker moved to a new highest rowid (store/writes.py), so both are above the highest
  rowid before them. SQLite gives a new row the highest rowid + 1, so a rowid can come back
  only after the row of the highest one went: the fold (the only remover of rows) then
  bumps `meta.rowid_epoch`, and a reader that sees another epoch must assume that every
  user changed;
- a performance written by the fold: stamped with the next `meta.change_seq`.

A `ChangeMark` is how far these went; the users changed between two marks are those of the
rows above the first and up to the second. Completed workouts, the bulk of the stream,
need no stamp and no index for this.
"""

from __future__ import annotations

import sqlite3
from typing import NamedTuple


class ChangeMark(NamedTuple):
    seq: int
    """meta.change_seq: the stamp of the fold's latest performances (0: none yet)."""
    rowid: int
    """The highest rowid of workouts (0: none yet)."""
    epoch: int = 0
    """meta.rowid_epoch: how many times the fold removed the row of the highest rowid."""

    def follows(self, earlier: ChangeMark) -> bool:
        """Whether the changes from `earlier` to this mark can be read with
        `changed_users` (same epoch, neither part lower); else assume all users changed."""
        return (
            self.epoch == earlier.epoch and self.seq >= earlier.seq and self.rowid >= earlier.rowid
        )


NO_CHANGES = ChangeMark(0, 0, 0)


def change_mark(conn: sqlite3.Connection) -> ChangeMark:
    """How far the changes went (call inside the caller's read transaction)."""
    row = conn.execute(
        """SELECT (SELECT value FROM meta WHERE name = 'change_seq'),
                  (SELECT max(rowid) FROM workouts),
                  (SELECT value FROM meta WHERE name = 'rowid_epoch')"""
    ).fetchone()
    return ChangeMark(row[0] or 0, row[1] or 0, row[2] or 0)


def changed_users(
    conn: sqlite3.Connection, *, after: ChangeMark, upto: ChangeMark, limit: int
) -> set[str] | None:
    """The users changed after `after` up to `upto` (which `follows` it); None when more
    than `limit`."""
    users = {
        user_id
        for (user_id,) in conn.execute(
            """SELECT user_id FROM workouts WHERE rowid > ?1 AND rowid <= ?2
               UNION
               SELECT user_id FROM performances WHERE changed_seq > ?3 AND changed_seq <= ?4
               LIMIT ?5""",
            (after.rowid, upto.rowid, after.seq, upto.seq, limit + 1),
        )
    }
    return None if len(users) > limit else users
