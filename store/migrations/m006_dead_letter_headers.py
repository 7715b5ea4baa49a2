"""Migration 6: a dead letter keeps its record's Kafka headers."""

from __future__ import annotations

import sqlite3

from store.migrations.script import run_script


def m006_dead_letter_headers(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- A dead letter keeps its record's Kafka headers (msgpack [[name, value], ...]; NULL
        -- for none): a binary-mode CloudEvent's attributes are there (ce_*), so a retry
        -- needs them. Redacted letters drop them with the key and value.
        ALTER TABLE dead_letters ADD COLUMN headers BLOB;
        """,
    )
