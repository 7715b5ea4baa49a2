"""Which users each dead letter names (events/personal.py `users_named`), kept beside it.

Redaction looks letters up here by user id, never by searching the raw bytes: a record may
name a user in an escaped form (`"j\\u00f6rg"`), in base64 (`data_base64`) or in a header
(`ce_subject`), which no byte search of the raw id finds. A letter's rows are written when
it is stored (and, for letters stored before this table, by its migration), and removed
with the letter, or when it is redacted: the table then holds no id the letters do not.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence

import msgspec

from events.personal import users_named

_decode_headers = msgspec.msgpack.Decoder(list[tuple[str, bytes | None]]).decode


def named_by(key: bytes | None, value: bytes | None, raw_headers: bytes | None) -> set[str]:
    """The users a stored letter names (its headers as the column keeps them)."""
    headers: Sequence[tuple[str, bytes | None]] = ()
    if raw_headers:
        try:
            headers = _decode_headers(raw_headers)
        except msgspec.DecodeError:
            headers = ()
    return users_named(key, value, headers)


def index(conn: sqlite3.Connection, *, letter_id: int, users: Collection[str]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO dead_letter_users (user_id, letter_id) VALUES (?, ?)",
        [(u, letter_id) for u in users],
    )


def letters_naming(conn: sqlite3.Connection, users: Collection[str]) -> list[int]:
    """The ids of the letters that name any of `users`."""
    found: set[int] = set()
    for user in users:
        found.update(
            i
            for (i,) in conn.execute(
                "SELECT letter_id FROM dead_letter_users WHERE user_id = ?", (user,)
            )
        )
    return sorted(found)


def forget(conn: sqlite3.Connection, letter_ids: Collection[int]) -> None:
    """Drop the rows of letters redacted or removed."""
    conn.executemany(
        "DELETE FROM dead_letter_users WHERE letter_id = ?", [(i,) for i in letter_ids]
    )


def forget_removed(conn: sqlite3.Connection) -> None:
    """Drop the rows of letters that are gone."""
    conn.execute(
        """DELETE FROM dead_letter_users
           WHERE letter_id NOT IN (SELECT id FROM dead_letters)"""
    )


def index_all(conn: sqlite3.Connection) -> None:
    """Fill the table for every letter not redacted (its migration)."""
    for letter_id, key, value, raw_headers in conn.execute(
        "SELECT id, key, value, headers FROM dead_letters WHERE redacted_at_us IS NULL"
    ).fetchall():
        index(conn, letter_id=letter_id, users=named_by(key, value, raw_headers))
