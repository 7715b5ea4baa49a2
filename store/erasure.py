"""Erasing a user (fitness.user.erased): their rows up to the erasure go, and stay gone.

Applied by the consumer in the batch's transaction, with the erasure's offset. One
predicate, applied on both sides, keeps the rows independent of the order and the number of
deliveries: a row of an erased user is held only if it is *after* the erasure, that is
completed after its instant (`erased_at_us`, events/erasure_time.py). `erase_user` deletes
the rows at or before it; store/writes.py `add_workouts` and `delete_workout` never store
one; a dead letter naming an erased user is kept redacted (store/dead_letters.py). A
deleted workout's marker is "completed" at its delete when it holds nothing else (a bare
marker); a marker of a workout completed before the erasure but deleted after it is
turned into that bare marker, since it is what a delete read after the erasure leaves.
Workouts completed after the erasure (the id given to a new account) are kept, whichever
came first and however often the erasure is delivered.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Collection

from store import dead_letter_users as letter_users


def erase_user(conn: sqlite3.Connection, *, user_id: str, erased_at_us: int, now_us: int) -> bool:
    """Remove the user's workouts (deleted markers included) and performances completed at
    or before the erasure (the latest one, if erased again), redact their dead letters, and
    remember the erasure. Returns whether anything changed."""
    held = conn.execute(
        "SELECT erased_at_us FROM erased_users WHERE user_id = ?", (user_id,)
    ).fetchone()
    later = held is None or erased_at_us > held[0]
    at = erased_at_us if later else held[0]
    highest = _highest_rowid(conn)
    removed = conn.execute(
        """DELETE FROM workouts WHERE user_id = ?1 AND completed_at_us <= ?2
             AND (deleted = 0 OR deleted_at_us IS NULL OR deleted_at_us <= ?2)""",
        (user_id, at),
    ).rowcount
    removed += conn.execute(
        """UPDATE workouts SET completed_at_us = deleted_at_us, exercises = NULL,
             n_exercises = 0
           WHERE user_id = ?1 AND completed_at_us <= ?2 AND deleted = 1
             AND deleted_at_us > ?2""",
        (user_id, at),
    ).rowcount
    removed += conn.execute(
        "DELETE FROM performances WHERE user_id = ? AND completed_at_us <= ?", (user_id, at)
    ).rowcount
    if _highest_rowid(conn) < highest:
        # A new row could take the removed highest rowid: readers of changes
        # (store/changes.py) must not take it for one they saw.
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'rowid_epoch'")
    redacted = redact_dead_letters(conn, users={user_id}, now_us=now_us)
    if not (removed or later or redacted):
        return False
    seq = conn.execute(
        "UPDATE meta SET value = value + 1 WHERE name = 'erasure_seq' RETURNING value"
    ).fetchone()[0]
    # A value never seen before, even where a rolled-back transaction left the same seq:
    # what `erased_before` keys its copy of the table on.
    conn.execute(
        "UPDATE meta SET value = ? WHERE name = 'erasure_version'",
        (secrets.randbits(62),),
    )
    conn.execute(
        """INSERT INTO erased_users (user_id, erased_at_us, seq) VALUES (?, ?, ?)
           ON CONFLICT (user_id) DO UPDATE SET
             erased_at_us = max(erased_at_us, excluded.erased_at_us), seq = excluded.seq""",
        (user_id, erased_at_us, seq),
    )
    return True


def redact_dead_letters(conn: sqlite3.Connection, *, users: Collection[str], now_us: int) -> int:
    """Drop the key, value and headers of every dead letter that names one of `users`
    (found by store/dead_letter_users.py, whenever the letter was stored), and their ids
    from its reason; keep its place, reason and times. Returns how many were redacted."""
    found = []
    wanted = set(users)
    for letter_id in letter_users.letters_naming(conn, wanted):
        row = conn.execute(
            "SELECT error FROM dead_letters WHERE id = ? AND redacted_at_us IS NULL",
            (letter_id,),
        ).fetchone()
        if row is not None:
            found.append((scrubbed(row[0], wanted), now_us, letter_id))
    conn.executemany(
        """UPDATE dead_letters
           SET key = NULL, value = NULL, headers = NULL, error = ?, redacted_at_us = ?
           WHERE id = ?""",
        found,
    )
    letter_users.forget(conn, [letter_id for *_, letter_id in found])
    return len(found)


def scrubbed(reason: str, users: Collection[str]) -> str:
    """`reason` without the quoted ids of `users` (earlier versions of coach quoted a
    mismatched key in the reason; today's reasons never hold one)."""
    for user in users:
        reason = reason.replace(repr(user), "'<erased>'")
    return reason


def erased_among(conn: sqlite3.Connection, users: Collection[str]) -> set[str]:
    """Which of `users` were erased."""
    if not users or not any_erased(conn):
        return set()
    marks = ",".join("?" * len(users))
    return {
        u
        for (u,) in conn.execute(
            f"SELECT user_id FROM erased_users WHERE user_id IN ({marks})",  # nosec B608
            tuple(users),
        )
    }


def any_erased(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM erased_users LIMIT 1").fetchone() is not None


ErasedBefore = dict[str, int]
"""User id -> the time of their latest erasure (µs)."""

MAX_HELD = 200_000
"""Most erased users `erased_before` keeps in memory (about 100 bytes each)."""

_held: dict[int, tuple[int, ErasedBefore]] = {}
"""Per connection (by id): the `erasure_version` read and the table as it was then."""


def erased_before(conn: sqlite3.Connection) -> ErasedBefore | None:
    """Every erased user with their erasure's time, for filtering a run of workouts in
    Python (a dict lookup per row rather than a query): read again only when
    `meta.erasure_version` changed, which every erasure sets to a new random value in its
    transaction (so a copy read inside a transaction that was rolled back is never taken
    for the table after it). {} when no one was erased; None when more than `MAX_HELD`
    were (filter in SQL then)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'erasure_version'").fetchone()
    version = 0 if row is None else row[0]
    if version == 0:
        return {}
    held = _held.get(id(conn))
    if held is not None and held[0] == version:
        return held[1]
    if conn.execute("SELECT count(*) FROM erased_users").fetchone()[0] > MAX_HELD:
        return None
    if len(_held) >= 16:  # connections closed long ago (ids may come back: the version
        _held.clear()  # tells a copy of another file apart, being random)
    table = erasures(conn)
    _held[id(conn)] = (version, table)
    return table


def erased_since(conn: sqlite3.Connection, *, seq: int) -> list[str]:
    """The users whose erasure was applied after stamp `seq` (0: every erased user)."""
    return [u for (u,) in conn.execute("SELECT user_id FROM erased_users WHERE seq > ?", (seq,))]


def erasure_seq(conn: sqlite3.Connection) -> int:
    """The stamp of the latest erasure applied (0: none)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'erasure_seq'").fetchone()
    return 0 if row is None else row[0]


def _highest_rowid(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT coalesce(max(rowid), 0) FROM workouts").fetchone()[0]


def erasures(conn: sqlite3.Connection) -> dict[str, int]:
    """Every erased user, with the time of their latest erasure."""
    return dict(conn.execute("SELECT user_id, erased_at_us FROM erased_users"))


def erase_missing(conn: sqlite3.Connection, *, erased: dict[str, int], now_us: int) -> int:
    """Apply to another projection file (a backup) every erasure of `erased` it has not
    applied yet; returns how many users it erased."""
    held = erasures(conn)
    done = 0
    for user, at in erased.items():
        if user not in held or held[user] < at:  # (an instant may be before 1970)
            erase_user(conn, user_id=user, erased_at_us=at, now_us=now_us)
            done += 1
    return done
