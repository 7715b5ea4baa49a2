"""Migration 5: erased users, and when a dead letter was redacted."""

from __future__ import annotations

import sqlite3

from store.migrations.script import run_script


def m005_erased_users(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- Users the monolith erased (fitness.user.erased), with the erasure's instant (see
        -- store/erasure.py): none of their workouts completed at or before it is stored,
        -- whenever it arrives (a redelivery, another partition, a replay). `seq` stamps
        -- each erasure applied (meta.erasure_seq), so that each api process drops what it
        -- holds of the users erased since it last looked.
        CREATE TABLE erased_users (
            user_id TEXT PRIMARY KEY,
            erased_at_us INTEGER NOT NULL,
            seq INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX erased_users_by_seq ON erased_users (seq);
        INSERT INTO meta (name, value) VALUES ('erasure_seq', 0), ('erasure_version', 0);

        -- A dead letter of an erased user keeps its place and reason; its key and value
        -- are dropped, and this says when.
        ALTER TABLE dead_letters ADD COLUMN redacted_at_us INTEGER;
        """,
    )
