"""Which users' workouts or performances changed: for the api's per-user caches.

Every write of those rows stamps them with the next `meta.change_seq` (see store/writes.py),
so the users changed after a value are those of the rows stamped above it.
"""

from __future__ import annotations

import sqlite3


def change_seq(conn: sqlite3.Connection) -> int:
    """The stamp of the latest change of workouts or performances (0: none yet)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'change_seq'").fetchone()
    return 0 if row is None else row[0]


def changed_users(
    conn: sqlite3.Connection, *, after: int, upto: int, limit: int
) -> set[str] | None:
    """The users whose rows were stamped in (after, upto]; None when more than `limit`."""
    users = {
        user_id
        for (user_id,) in conn.execute(
            """SELECT user_id FROM workouts WHERE changed_seq > ?1 AND changed_seq <= ?2
               UNION
               SELECT user_id FROM performances WHERE changed_seq > ?1 AND changed_seq <= ?2
               LIMIT ?3""",
            (after, upto, limit + 1),
        )
    }
    return None if len(users) > limit else users
