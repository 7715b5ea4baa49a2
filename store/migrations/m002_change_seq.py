"""Migration 2: change stamps: which users' data changed, for the api's per-user caches."""

from __future__ import annotations

import sqlite3

from store.migrations.script import run_script


def m002_change_seq(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- Which users' data changed, for the api's per-user caches (store/changes.py).
        -- Changed workout rows are those above the highest rowid seen: a completed workout
        -- is a new row, a deleted one's marker moves to a new highest rowid, and
        -- `meta.rowid_epoch` grows when the fold removes the row of the highest rowid
        -- (SQLite may then reuse it). The performances the fold writes are stamped with the
        -- next `meta.change_seq` (one step per statement). `workouts` is unchanged: the
        -- ingest path writes nothing more for this.
        ALTER TABLE performances ADD COLUMN changed_seq INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX performances_by_change ON performances (changed_seq);
        INSERT INTO meta (name, value) VALUES ('change_seq', 0), ('rowid_epoch', 0);
        """,
    )
