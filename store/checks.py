"""Checks of a projection file: SQLite's integrity check, table checksums, a sample of
users. What they compare is decided by replay/verify.py.

Columns that record when coach applied something (not what) are left out of the
checksums: the time a dead letter was stored or redacted (whether it is redacted is
compared) and its reason's wording, the consumer's status, the change and erasure stamps.
The catalog is summed as the api sees it (live exercises).
"""

from __future__ import annotations

import hashlib
import sqlite3
from dataclasses import dataclass

import msgspec

# table -> the query whose rows are checksummed (ordered, so equal contents hash equally)
CANONICAL: dict[str, str] = {
    "exercises": """SELECT id, name, description, difficulty, default_weight, default_reps,
                           revision FROM exercises WHERE deleted = 0 ORDER BY id""",
    "exercise_muscle_groups": """SELECT emg.exercise_id, emg.muscle_group_id, emg.is_primary,
                                        emg.intensity, emg.name, emg.body_part
                                 FROM exercise_muscle_groups emg
                                 JOIN exercises e ON e.id = emg.exercise_id AND e.deleted = 0
                                 ORDER BY 1, 2""",
    "workouts": """SELECT user_id, workout_id, deleted, completed_at_us, exercises, n_exercises,
                          deleted_at_us
                   FROM workouts ORDER BY user_id, workout_id""",
    "performances": """SELECT user_id, exercise_id, workout_id, completed_at_us, sets, reps,
                              weight, deleted
                       FROM performances ORDER BY user_id, exercise_id, workout_id""",
    "dead_letters": """SELECT topic, partition, "offset", key, value, headers, timestamp_ms,
                              redacted_at_us IS NOT NULL
                       FROM dead_letters ORDER BY topic, partition, "offset\"""",
    "erased_users": "SELECT user_id, erased_at_us FROM erased_users ORDER BY user_id",
    "unknown_events": "SELECT value FROM meta WHERE name = 'unknown_events'",
}
KEYS: dict[str, tuple[str, ...]] = {
    "exercises": ("id",),
    "exercise_muscle_groups": ("exercise_id", "muscle_group_id"),
    "workouts": ("user_id", "workout_id"),
    "performances": ("user_id", "exercise_id", "workout_id"),
    "dead_letters": ("topic", "partition", "offset"),
    "erased_users": ("user_id",),
    "unknown_events": (),
}
"""table -> the leading columns of its CANONICAL rows that identify a row (its key)."""


@dataclass(frozen=True)
class TableSum:
    rows: int
    sha256: str


def integrity(conn: sqlite3.Connection, *, quick: bool = False) -> list[str]:
    """SQLite's own check of the file: [] when it is sound.

    `quick` runs `quick_check`: every page, record and constraint, but not whether each
    index entry matches its row (0.3 s rather than 1.5 s for a million workouts)."""
    pragma = "quick_check" if quick else "integrity_check"
    rows = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
    return [] if rows == ["ok"] else rows


_CHUNK_ROWS = 10_000
_encode = msgspec.msgpack.Encoder().encode


def checksums(conn: sqlite3.Connection) -> dict[str, TableSum]:
    """A row count and a SHA-256 of the canonical rows of every table that shapes answers.

    Rows are hashed `_CHUNK_ROWS` at a time as msgpack, which keeps every value's type and
    exact value (an int is not a float, bytes are not text): 4 times faster than hashing
    each row's repr."""
    sums = {}
    # The ordered scans visit table rows in index order: a large cache reads each page once.
    conn.execute("PRAGMA cache_size = -262144")
    for table, sql in CANONICAL.items():
        digest = hashlib.sha256()
        n = 0
        cursor = conn.execute(sql)
        while rows := cursor.fetchmany(_CHUNK_ROWS):
            digest.update(_encode(rows))
            n += len(rows)
        sums[table] = TableSum(n, digest.hexdigest())
    return sums


def sample_users(conn: sqlite3.Connection, *, limit: int) -> list[str]:
    """Up to `limit` users spread over the id space (deterministic); none for 0."""
    if limit <= 0:
        return []
    users = [
        r[0]
        for r in conn.execute(
            """SELECT user_id FROM (SELECT DISTINCT user_id FROM workouts
                                    UNION SELECT DISTINCT user_id FROM performances)
               ORDER BY user_id"""
        )
    ]
    if len(users) <= limit:
        return users
    step = len(users) / limit
    return [users[int(i * step)] for i in range(limit)]


def _order(value: object) -> tuple[int, object]:
    """SQLite's order of values of any type (NULL, numbers, text, blobs), as a sort key."""
    if value is None:
        return (0, 0)
    if isinstance(value, int | float):
        return (1, value)
    return (2, value) if isinstance(value, str) else (3, value)


def differing_rows(
    a: sqlite3.Connection, b: sqlite3.Connection, table: str, *, limit: int
) -> list[tuple[tuple[object, ...], str]]:
    """Up to `limit` keys of rows of `table` that differ between `a` and `b` (by the
    CANONICAL query), each with how: "only in a", "only in b" or "differs". One ordered
    pass over both (a merge of the two sorted scans): no table is held in memory."""
    width = len(KEYS[table])
    left, right = a.execute(CANONICAL[table]), b.execute(CANONICAL[table])
    x, y = left.fetchone(), right.fetchone()
    found: list[tuple[tuple[object, ...], str]] = []
    while (x is not None or y is not None) and len(found) < limit:
        kx = None if x is None else tuple(map(_order, x[:width]))
        ky = None if y is None else tuple(map(_order, y[:width]))
        if ky is None or (kx is not None and kx < ky):
            found.append((tuple(x[:width]), "only in a"))
            x = left.fetchone()
        elif kx is None or ky < kx:
            found.append((tuple(y[:width]), "only in b"))
            y = right.fetchone()
        else:
            if x != y:
                found.append((tuple(x[:width]), "differs"))
            x, y = left.fetchone(), right.fetchone()
    return found
