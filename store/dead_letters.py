"""Dead letters: records that could not be applied, kept with the reason.

They may hold personal data (a workout that did not validate), so they are kept
`COACH_DEAD_LETTER_DAYS` (`remove_older`), and a letter naming an erased user is kept
redacted: its place and reason only (store/erasure.py).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import NamedTuple

import msgspec

from events.personal import users_named
from store import dead_letter_users as letter_users
from store.erasure import erased_among, scrubbed


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
    redacted_at_us: int | None = None
    """When its key and value were dropped (its user was erased); None: kept whole."""
    raw_headers: bytes | None = None
    """The record's headers, msgpack-encoded (`headers` decodes them); None: none."""

    @property
    def headers(self) -> tuple[tuple[str, bytes | None], ...]:
        """The record's Kafka headers (binary-mode CloudEvents keep their attributes there)."""
        if not self.raw_headers:
            return ()
        return tuple((name, raw) for name, raw in _decode_headers(self.raw_headers))


_COLUMNS = """id, topic, partition, "offset", key, value, error, failed_at_us, timestamp_ms,
              redacted_at_us, headers"""
_encode_headers = msgspec.msgpack.Encoder().encode
_decode_headers = msgspec.msgpack.Decoder(list[tuple[str, bytes | None]]).decode


def encoded_headers(headers: Sequence[tuple[str, bytes | None]]) -> bytes | None:
    """A record's headers as the column keeps them (None for none)."""
    return _encode_headers([(name, raw) for name, raw in headers]) if headers else None


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
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> bool:
    """Keep a record that could not be applied, with the reason (once per position); one
    that names an erased user is kept redacted (no key, no value, no headers)."""
    redacted_at_us = None
    raw_headers = encoded_headers(headers)
    named = users_named(key, value, headers)
    erased = erased_among(conn, named)
    if erased:
        key = value = raw_headers = None
        error = scrubbed(error, erased)
        redacted_at_us = failed_at_us
    cur = conn.execute(
        """INSERT INTO dead_letters
             (topic, partition, "offset", key, value, error, failed_at_us, timestamp_ms,
              redacted_at_us, headers)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
        (
            topic,
            partition,
            offset,
            key,
            value,
            error,
            failed_at_us,
            timestamp_ms,
            redacted_at_us,
            raw_headers,
        ),
    )
    if cur.rowcount > 0 and redacted_at_us is None:
        letter_users.index(conn, letter_id=cur.lastrowid or 0, users=named)
    return cur.rowcount > 0


def remove_older(conn: sqlite3.Connection, *, before_us: int) -> int:
    """Remove the dead letters of records older than `before_us` (by the record's Kafka
    timestamp, which a replay sees the same; by when it was stored for a record without
    one). Returns how many went."""
    removed = conn.execute(
        """DELETE FROM dead_letters
           WHERE coalesce(timestamp_ms * 1000, failed_at_us) < ?""",
        (before_us,),
    ).rowcount
    if removed:
        letter_users.forget_removed(conn)
    return removed


def oldest(conn: sqlite3.Connection, *, limit: int | None = None) -> list[Letter]:
    """The dead letters in topic/partition/offset order, the first `limit` (all: None)."""
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM dead_letters ORDER BY topic, partition, "offset"
            LIMIT ?""",  # nosec B608
        (-1 if limit is None else limit,),
    ).fetchall()
    return [Letter(*row) for row in rows]


def newest(conn: sqlite3.Connection, *, limit: int | None = None) -> list[Letter]:
    """The dead letters, the most recently stored first, the first `limit` (all: None)."""
    rows = conn.execute(
        f"""SELECT {_COLUMNS} FROM dead_letters ORDER BY failed_at_us DESC, id DESC
            LIMIT ?""",  # nosec B608
        (-1 if limit is None else limit,),
    ).fetchall()
    return [Letter(*row) for row in rows]


def count(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0]


def by_ids(conn: sqlite3.Connection, ids: Sequence[int]) -> list[Letter]:
    """The letters of these ids that exist, in the order of `ids`."""
    found = {
        row[0]: Letter(*row)
        for row in conn.execute(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE id IN (SELECT value FROM json_each(?))",  # nosec B608
            (msgspec.json.encode(list(ids)),),
        )
    }
    return [found[i] for i in ids if i in found]


def remove(conn: sqlite3.Connection, letter_id: int) -> None:
    conn.execute("DELETE FROM dead_letters WHERE id = ?", (letter_id,))
    letter_users.forget(conn, [letter_id])


def reword(conn: sqlite3.Connection, letter_id: int, error: str) -> None:
    """Keep the letter with the reason it fails now."""
    conn.execute("UPDATE dead_letters SET error = ? WHERE id = ?", (error, letter_id))
