"""Read-only queries of what the consumer records about itself: partitions, heartbeat, dead
letters. The api's /ready, /lag, /metrics and freshness headers are built from these."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from store.changes import NO_CHANGES, ChangeMark, change_mark
from store.db import read_snapshot
from store.erasure import erasure_seq


@dataclass(frozen=True, slots=True)
class PartitionRow:
    """One topic-partition as the consumer last recorded it (instants in epoch microseconds)."""

    topic: str
    partition: int
    next_offset: int
    high_watermark: int | None
    last_event_at_us: int | None
    updated_at_us: int


@dataclass(frozen=True, slots=True)
class ConsumerRow:
    heartbeat_at_us: int | None
    broker_reachable: bool
    last_error: str | None
    broker_contact_at_us: int | None = None
    """The last heartbeat at which the broker answered and the high watermarks were read
    (`meta.broker_contact_at_us`); None when never recorded (a file of an older coach)."""
    broker_lost_at_us: int | None = None
    """The first heartbeat that found the broker unreachable after its last contact
    (`meta.broker_lost_at_us`; older than the contact: the outage is over)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The consumer's status, the catalog version, how far the changes of workouts and
    performances went (see store/changes.py) and the erasures, read in one transaction."""

    partitions: tuple[PartitionRow, ...]
    consumer: ConsumerRow
    catalog_version: int
    changes: ChangeMark = NO_CHANGES
    erasures: int = 0
    """The stamp of the latest erasure applied (store/erasure.py `erasure_seq`)."""


def partitions(conn: sqlite3.Connection) -> tuple[PartitionRow, ...]:
    """Every partition the consumer has read from or is assigned, ordered by topic and
    partition. One assigned and never read is at its start offset (0 in a topic whose
    records are all still there), with the high watermark the consumer last saw, and no
    event: its lag counts every record in it."""
    return tuple(
        PartitionRow(*row)
        for row in conn.execute(
            """SELECT topic, partition, next_offset, high_watermark, last_event_at_us,
                      updated_at_us
               FROM partitions
               UNION ALL
               SELECT a.topic, a.partition, a.start_offset, a.high_watermark, NULL,
                      a.updated_at_us
               FROM assigned_partitions AS a
               WHERE NOT EXISTS (SELECT 1 FROM partitions AS p
                                 WHERE p.topic = a.topic AND p.partition = a.partition)
               ORDER BY 1, 2"""
        )
    )


def consumer(conn: sqlite3.Connection) -> ConsumerRow:
    """The consumer's heartbeat, whether it reached the broker, its last error, and when it
    last reached the broker."""
    row = conn.execute(
        """SELECT heartbeat_at_us, broker_reachable, last_error,
                  (SELECT value FROM meta WHERE name = 'broker_contact_at_us'),
                  (SELECT value FROM meta WHERE name = 'broker_lost_at_us')
           FROM consumer_status WHERE singleton = 1"""
    ).fetchone()
    if row is None:
        return ConsumerRow(None, False, None)
    return ConsumerRow(row[0], bool(row[1]), row[2], row[3], row[4])


def catalog_version(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT value FROM meta WHERE name = 'catalog_version'").fetchone()[0]


def snapshot(conn: sqlite3.Connection) -> Snapshot:
    """Partitions, consumer status, catalog version and change mark as of one instant."""
    with read_snapshot(conn):
        return Snapshot(
            partitions(conn),
            consumer(conn),
            catalog_version(conn),
            change_mark(conn),
            erasure_seq(conn),
        )


def dead_letter_count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]


def unknown_events(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE name = 'unknown_events'").fetchone()
    return 0 if row is None else row[0]


def erasure_key_mismatches(conn: sqlite3.Connection) -> int:
    """Erasures applied whose record key was not their user id (a producer's bug)."""
    row = conn.execute("SELECT value FROM meta WHERE name = 'erasure_key_mismatches'").fetchone()
    return 0 if row is None else row[0]
