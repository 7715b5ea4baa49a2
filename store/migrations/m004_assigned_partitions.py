"""Migration 4: every assigned partition and each topic's Kafka topic id."""

from __future__ import annotations

import sqlite3

from store.migrations.script import run_script


def m004_assigned_partitions(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- Every partition the consumer is assigned, rewritten with each heartbeat, so that
        -- /lag and /ready see partitions not read yet (no row in `partitions`, whose
        -- next_offset the consumer seeks to). `start_offset` is where reading starts (the
        -- partition's first offset when it was assigned); `high_watermark` the latest known.
        CREATE TABLE assigned_partitions (
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            start_offset INTEGER NOT NULL,
            high_watermark INTEGER,
            updated_at_us INTEGER NOT NULL,
            PRIMARY KEY (topic, partition)
        ) WITHOUT ROWID;

        -- Each topic's Kafka topic id (16 bytes) when the consumer first read it: a topic
        -- deleted and created again has a new id, and its offsets start again.
        CREATE TABLE topic_ids (
            topic TEXT PRIMARY KEY,
            topic_id BLOB NOT NULL,
            seen_at_us INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    )
