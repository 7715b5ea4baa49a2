"""Dead letters: records that could not be applied, kept with the reason."""

from __future__ import annotations

import sqlite3
from typing import NamedTuple


class Letter(NamedTuple):
    id: int
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    error: str
    failed_at_us: int
    timestamp_ms: int | None


_COLUMNS = """id, topic, partition, "offset", key, value, error, failed_at_us, timestamp_ms"""


def add_dead_letter(
    conn: sqlite3.Connection,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: str,
    failed_at_us: int,
    timestamp_ms: int | None = None,
) -> bool:
    """Keep a record that could not be applied, with the reason (once per position)."""
    cur = conn.execute(
        """INSERT INTO dead_letters
             (topic, partition, "offset", key, value, error, failed_at_us, timestamp_ms)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        (topic, partition, offset, key, value, error, failed_at_us, timestamp_ms),
    )
    return cur.rowcount > 0


def oldest(conn: sqlite3.Connection, *, limit: int | None = None) -> list[Letter]:
    """The dead letters in topic/partition/offset order, the first `limit` (all: None)."""
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM dead_letters ORDER BY topic, partition, "offset"
            LIMIT ?""",
        (-1 if limit is None else limit,),
    ).fetchall()
    return [Letter(*row) for row in rows]


def remove(conn: sqlite3.Connection, letter_id: int) -> None:
    conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,))


def reword(conn: sqlite3.Connection, letter_id: int, error: str) -> None:
    """Keep the letter with the reason it fails now."""
    conn.execute("UPDATE dead_letters SET error = ? WHERE id = ?", (error, letter_id))
