"""Checking a rebuilt projection: SQLite's integrity check, counts, table checksums, and the
answers the api would give, against the live projection at the same offsets.

Columns that record when coach applied something (not what) are left out of the
checksums: the time a dead letter was stored and its reason's wording, the consumer's
status, the change stamps. Everything else is a function of the topics alone (a deleted
workout's marker carries the delete record's timestamp), so it is compared. The catalog
is compared as the api sees it (live exercises): a compacted topic may have dropped an
exercise's tombstone together with the exercise, which the live projection still holds as
a deleted row.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

import msgspec

from store import reads

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
    "dead_letters": """SELECT topic, partition, "offset", key, value, timestamp_ms
                       FROM dead_letters ORDER BY topic, partition, "offset\"""",
    "unknown_events": "SELECT value FROM meta WHERE name = 'unknown_events'",
}


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
    """Up to `limit` users spread over the id space (deterministic)."""
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


def answers(conn: sqlite3.Connection, users: Iterable[str]) -> dict[str, object]:
    """What the api reads for each user, and the catalog it serves."""
    catalog = reads.load_catalog(conn)
    ids = [e.id for e in catalog]
    out: dict[str, object] = {"catalog": catalog}
    conn.execute("BEGIN")
    try:
        for user in users:
            recent = reads.history(conn, user_id=user)
            out[user] = (
                recent.workouts,
                reads.performances(conn, user_id=user, exercise_ids=ids, recent=recent),
            )
    finally:
        conn.execute("COMMIT")
    return out


@dataclass
class Comparison:
    live: dict[str, TableSum]
    rebuilt: dict[str, TableSum]
    users_compared: int = 0
    differences: list[str] = field(default_factory=list)
    skipped: str | None = None
    """Why the live projection could not be compared (damaged, older schema), if so."""

    @property
    def equal(self) -> bool:
        return not self.differences


def compare(live: sqlite3.Connection, rebuilt: sqlite3.Connection, *, users: int) -> Comparison:
    """Compare two projections at the same offsets: checksums, then the api's answers for
    a sample of users."""
    result = Comparison(live=checksums(live), rebuilt=checksums(rebuilt))
    for table, mine in result.live.items():
        theirs = result.rebuilt[table]
        if mine != theirs:
            result.differences.append(
                f"{table}: live {mine.rows} rows, rebuilt {theirs.rows} rows, checksums differ"
                if mine.sha256 != theirs.sha256
                else f"{table}: row counts differ"
            )
    sample = sorted(set(sample_users(live, limit=users)) | set(sample_users(rebuilt, limit=users)))
    a, b = answers(live, sample), answers(rebuilt, sample)
    result.users_compared = len(sample)
    if a["catalog"] != b["catalog"]:
        result.differences.append("the catalog the api would serve differs")
    differing = [u for u in sample if a[u] != b[u]]
    if differing:
        result.differences.append(
            f"{len(differing)} of {len(sample)} sampled users get different answers "
            f"(e.g. user {differing[0]!r})"
        )
    return result
