"""Migration 1, the first schema: the catalog, workouts, performances, partitions, dead
letters, named numbers (meta) and the consumer's status."""

from __future__ import annotations

import sqlite3

from store.migrations.script import run_script


def m001_initial(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- The catalog. A deleted exercise keeps its row (deleted = 1) so that a stale upsert
        -- with a lower or equal revision cannot bring it back.
        CREATE TABLE exercises (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            difficulty INTEGER NOT NULL,
            default_weight REAL NOT NULL,
            default_reps INTEGER NOT NULL,
            revision INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE muscle_groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            body_part TEXT NOT NULL
        );
        CREATE TABLE exercise_muscle_groups (
            exercise_id INTEGER NOT NULL,
            muscle_group_id INTEGER NOT NULL,
            is_primary INTEGER NOT NULL,
            intensity REAL NOT NULL,
            PRIMARY KEY (exercise_id, muscle_group_id)
        ) WITHOUT ROWID;

        -- Completed workouts not yet folded into `performances`: those of the history
        -- window (and, until the next fold, older ones that arrived late). One row per
        -- workout, appended in arrival order; the unique index finds a user's rows and
        -- makes a redelivered workout a no-op. `exercises` is JSON [[exercise_id, sets,
        -- reps, weight], ...]. A deleted workout keeps its row (deleted = 1, exercises
        -- NULL) so a late duplicate is not counted again; it is pruned with the window.
        CREATE TABLE workouts (
            user_id TEXT NOT NULL,
            workout_id TEXT NOT NULL,
            completed_at_us INTEGER NOT NULL,
            exercises BLOB,
            n_exercises INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX workouts_by_user ON workouts (user_id, workout_id);

        -- Each user's latest logged performance per exercise of the workouts folded out
        -- of the window (kept for the suggestions).
        CREATE TABLE performances (
            user_id TEXT NOT NULL,
            exercise_id INTEGER NOT NULL,
            workout_id TEXT NOT NULL,
            completed_at_us INTEGER NOT NULL,
            sets INTEGER NOT NULL,
            reps INTEGER NOT NULL,
            weight REAL NOT NULL,
            PRIMARY KEY (user_id, exercise_id)
        ) WITHOUT ROWID;

        -- Per topic-partition: the next offset to read, stored in the same transaction as
        -- the rows its records produced; and what the consumer last saw of the partition.
        CREATE TABLE partitions (
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL,
            high_watermark INTEGER,
            last_event_at_us INTEGER,
            updated_at_us INTEGER NOT NULL,
            PRIMARY KEY (topic, partition)
        ) WITHOUT ROWID;

        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            "offset" INTEGER NOT NULL,
            key BLOB,
            value BLOB,
            error TEXT NOT NULL,
            failed_at_us INTEGER NOT NULL,
            UNIQUE (topic, partition, "offset")
        );

        -- Named numbers: catalog_version (bumped on every catalog change), counters.
        CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta (name, value) VALUES ('catalog_version', 0), ('unknown_events', 0);

        -- The consumer's own status, one row, for the api's /ready and /lag.
        CREATE TABLE consumer_status (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            heartbeat_at_us INTEGER,
            broker_reachable INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        INSERT INTO consumer_status (singleton) VALUES (1);
        """,
    )
