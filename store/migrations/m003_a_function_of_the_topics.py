"""Migration 3: what a row holds follows from the topics alone (deletion times, kept
performances, muscle groups per exercise, dead letters' Kafka timestamps)."""

from __future__ import annotations

import sqlite3

from store.migrations.script import run_script


def m003_a_function_of_the_topics(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- What a row holds follows from the topics alone, whenever the fold runs:
        -- A deleted workout's marker keeps the workout's time and exercises while in the
        -- window, and records when it was deleted: the delete record's Kafka timestamp,
        -- never the clock of the consumer that applied it.
        ALTER TABLE workouts ADD COLUMN deleted_at_us INTEGER;
        UPDATE workouts SET deleted_at_us = completed_at_us WHERE deleted = 1;

        -- Up to KEPT_PER_EXERCISE (wod/suggestion.py) of each user's newest workouts holding an
        -- exercise, deleted ones included: deleting the newest brings the one before back.
        CREATE TABLE performances_kept (
            user_id TEXT NOT NULL,
            exercise_id INTEGER NOT NULL,
            workout_id TEXT NOT NULL,
            completed_at_us INTEGER NOT NULL,
            sets INTEGER NOT NULL,
            reps INTEGER NOT NULL,
            weight REAL NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            changed_seq INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, exercise_id, workout_id)
        ) WITHOUT ROWID;
        INSERT INTO performances_kept
          SELECT user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight, 0,
                 changed_seq
          FROM performances;
        DROP TABLE performances;
        ALTER TABLE performances_kept RENAME TO performances;
        CREATE INDEX performances_by_change ON performances (changed_seq);

        -- A muscle group's name and body part as each exercise gives them: a row shared by
        -- all exercises was named by whichever upsert came last, across partitions.
        ALTER TABLE exercise_muscle_groups ADD COLUMN name TEXT NOT NULL DEFAULT '';
        ALTER TABLE exercise_muscle_groups ADD COLUMN body_part TEXT NOT NULL DEFAULT '';
        UPDATE exercise_muscle_groups SET
          name = coalesce((SELECT name FROM muscle_groups m WHERE m.id = muscle_group_id), ''),
          body_part = coalesce(
            (SELECT body_part FROM muscle_groups m WHERE m.id = muscle_group_id), '');
        DROP TABLE muscle_groups;

        -- The dead record's Kafka timestamp, so that a retry applies it as it was.
        ALTER TABLE dead_letters ADD COLUMN timestamp_ms INTEGER;
        """,
    )
