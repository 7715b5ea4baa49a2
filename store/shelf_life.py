"""How long the projection's catalog stays true without reading: when it was last caught up
with each topic, and forgetting the catalog so that its topic is read again from the start.

A compacted topic drops a tombstone `delete.retention.ms` after cleaning it. A projection
that was last caught up with the exercises topic at T has seen every record up to the high
watermark of T; a tombstone written later lives at least until T + delete.retention.ms. So
a file (a snapshot, a replica down for a day) started later than that may have missed a
delete for good: the consumer then reads the topic again from its start
(consumer/shelf_life.py), where compaction left the last record of every exercise.
"""

from __future__ import annotations

import sqlite3

CAUGHT_UP_AT = "caught_up_at_us:"
"""meta row `caught_up_at_us:<topic>`: the last heartbeat at which every assigned partition
of the topic had been read to the high watermark the consumer knew (epoch µs)."""


def mark_caught_up(conn: sqlite3.Connection) -> None:
    """Stamp each topic whose every assigned partition has been read to the high watermark
    recorded with it, with the time that was recorded (`assigned_partitions`, written by each
    heartbeat), in the caller's transaction. A stamp never goes back.

    The heartbeat calls it twice: before recording the new high watermarks (has the
    projection reached those of the previous heartbeat? Then it was caught up as of then, even
    while new records keep coming) and after (is it caught up now?)."""
    conn.execute(
        f"""INSERT INTO meta (name, value)
            SELECT '{CAUGHT_UP_AT}' || a.topic, min(a.updated_at_us)
            FROM assigned_partitions AS a
            LEFT JOIN partitions AS p ON p.topic = a.topic AND p.partition = a.partition
            WHERE true
            GROUP BY a.topic
            HAVING min(a.high_watermark IS NOT NULL
                       AND coalesce(p.next_offset, a.start_offset) >= a.high_watermark) = 1
            ON CONFLICT (name) DO UPDATE SET value = max(value, excluded.value)"""  # nosec B608
    )  # the one name in the SQL is CAUGHT_UP_AT, a constant of this module


def caught_up_at_us(conn: sqlite3.Connection, topic: str) -> int | None:
    """When the projection was last caught up with `topic` (None: never known)."""
    row = conn.execute("SELECT value FROM meta WHERE name = ?", (CAUGHT_UP_AT + topic,)).fetchone()
    return None if row is None else int(row[0])


def has_offsets(conn: sqlite3.Connection, topic: str) -> bool:
    """Whether the projection stored a position in `topic` (else it reads it from the start)."""
    row = conn.execute("SELECT 1 FROM partitions WHERE topic = ? LIMIT 1", (topic,)).fetchone()
    return row is not None


def forget_catalog(conn: sqlite3.Connection, *, topic: str) -> int:
    """Remove the catalog (deleted markers included), the positions in its `topic` and the
    topic's stamp, in the caller's transaction: the consumer reads the topic again from its
    start, and the catalog is rebuilt from it (the last record per key, revisions guarding
    within the read). Returns the exercises forgotten."""
    forgotten = conn.execute("DELETE FROM exercises").rowcount
    conn.execute("DELETE FROM exercise_muscle_groups")
    conn.execute("DELETE FROM partitions WHERE topic = ?", (topic,))
    # and what the last heartbeat recorded of them: no stamp from positions now forgotten
    conn.execute("DELETE FROM assigned_partitions WHERE topic = ?", (topic,))
    conn.execute("DELETE FROM meta WHERE name = ?", (CAUGHT_UP_AT + topic,))
    conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'catalog_version'")
    return int(forgotten)
