"""Migration 7: which users each dead letter names, for redaction."""

from __future__ import annotations

import sqlite3


def m007_dead_letter_users(conn: sqlite3.Connection) -> None:
    from store.dead_letter_users import index_all

    # Which users each dead letter names (store/dead_letter_users.py), for redaction.
    conn.execute(
        """CREATE TABLE dead_letter_users (
             user_id TEXT NOT NULL, letter_id INTEGER NOT NULL,
             PRIMARY KEY (user_id, letter_id)) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX dead_letter_users_by_letter ON dead_letter_users (letter_id)")
    index_all(conn)
