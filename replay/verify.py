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

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from store import reads
from store.checks import KEYS, TableSum, checksums, differing_rows, sample_users
from store.db import read_snapshot


def answers(conn: sqlite3.Connection, users: Iterable[str]) -> dict[str, object]:
    """What the api reads for each user, and the catalog it serves."""
    catalog = reads.load_catalog(conn)
    ids = [e.id for e in catalog]
    out: dict[str, object] = {"catalog": catalog}
    with read_snapshot(conn):
        for user in users:
            recent = reads.history(conn, user_id=user)
            out[user] = (
                recent.workouts,
                reads.performances(conn, user_id=user, exercise_ids=ids, recent=recent),
            )
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
                + _samples(live, rebuilt, table)
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
            f"(e.g. {', '.join(repr(u) for u in differing[:SAMPLE_KEYS])})"
        )
    return result


SAMPLE_KEYS = 3
_HOW = {"only in a": "only in live", "only in b": "only in rebuilt", "differs": "differs"}


def _samples(live: sqlite3.Connection, rebuilt: sqlite3.Connection, table: str) -> str:
    """`; e.g. KEY how, ...`: a few keys of the rows that differ (the operator's terminal
    only, like `coach dead-letters list`: a key may be a user id)."""
    names = KEYS[table]
    rows = differing_rows(live, rebuilt, table, limit=SAMPLE_KEYS) if names else []
    if not rows:
        return ""
    shown = [
        ", ".join(f"{n}={v!r}" for n, v in zip(names, key, strict=True)) + f" {_HOW[how]}"
        for key, how in rows
    ]
    return "; e.g. " + "; ".join(shown)
