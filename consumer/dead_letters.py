"""Dead letters: listing them, and applying them again after a fix.

A record that could not be decoded or applied was kept in `dead_letters` with its reason,
and its partition moved on. After a fix (a newer coach that understands it, a corrected
contract), `retry` applies each one again, in topic/partition/offset order, each in its own
transaction: one that applies now is removed; one that still fails keeps its row with the
new reason.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.apply import apply_decoded, is_record_fault
from consumer.handlers import Context
from events import DecodeError, decode_record
from events.codec import Role
from store import writes
from store.db import transaction
from store.instants import from_us, now_us


def list_letters(conn: sqlite3.Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """The oldest `limit` dead letters, values shown as text where they are text."""
    rows = conn.execute(
        """SELECT id, topic, partition, "offset", key, value, error, failed_at_us
           FROM dead_letters ORDER BY topic, partition, "offset" LIMIT ?""",
        (limit,),
    ).fetchall()
    return [
        {
            "id": id_,
            "topic": topic,
            "partition": partition,
            "offset": offset,
            "key": _text(key),
            "value": _text(value),
            "error": error,
            "failed_at": from_us(failed_at_us).isoformat().replace("+00:00", "Z"),
        }
        for id_, topic, partition, offset, key, value, error, failed_at_us in rows
    ]


def _text(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return "0x" + raw.hex()


@dataclass
class RetryResult:
    applied: int = 0
    still_failing: int = 0
    errors: list[str] = field(default_factory=list)


def retry(conn: sqlite3.Connection, *, roles: Mapping[str, Role]) -> RetryResult:
    """Apply every dead letter again; remove those that apply, re-word those that fail."""
    result = RetryResult()
    letters = conn.execute(
        """SELECT id, topic, partition, "offset", key, value, timestamp_ms FROM dead_letters
           ORDER BY topic, partition, "offset\""""
    ).fetchall()
    for id_, topic, partition, offset, key, value, timestamp_ms in letters:
        where = f"{topic}/{partition}@{offset}"
        role = roles.get(topic)
        if role is None:
            result.still_failing += 1
            result.errors.append(f"{where}: topic {topic} is not one coach reads (settings)")
            continue
        ctx = Context(now_us=now_us()).for_record(timestamp_ms)
        with transaction(conn):
            error = _apply_letter(conn, role, key, value, ctx)
            if error is None:
                conn.execute("DELETE FROM dead_letters WHERE id = ?", (id_,))
                result.applied += 1
            else:
                conn.execute("UPDATE dead_letters SET error = ? WHERE id = ?", (error, id_))
                result.still_failing += 1
                result.errors.append(f"{where}: {error}")
    return result


def _apply_letter(
    conn: sqlite3.Connection, role: Role, key: bytes | None, value: bytes | None, ctx: Context
) -> str | None:
    try:
        decoded = decode_record(role, key, value)
    except DecodeError as exc:
        return str(exc)
    if not decoded.known:
        writes.bump_counter(conn, name="unknown_events")
        return None
    conn.execute("SAVEPOINT letter")
    try:
        apply_decoded(conn, decoded, ctx)
    except Exception as exc:
        if not is_record_fault(exc):
            raise  # a storage or process fault: the letter stays as it was
        conn.execute("ROLLBACK TO letter")
        conn.execute("RELEASE letter")
        return f"could not apply: {type(exc).__name__}: {exc}"
    conn.execute("RELEASE letter")
    return None
