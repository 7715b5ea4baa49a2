"""Dead letters: listing them, and applying them again after a fix.

A record that could not be decoded or applied was kept in `dead_letters` with its reason,
and its partition moved on. After a fix (a newer coach that understands it, a corrected
contract), `retry` applies each one again, in topic/partition/offset order, each in its own
transaction: one that applies now is removed; one that still fails keeps its row with the
new reason. A redacted letter (its user was erased: no key, no value) has nothing to apply
and is left as it is, until `COACH_DEAD_LETTER_DAYS` removes it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from consumer.commit import apply_event
from consumer.faults import is_record_fault
from consumer.handlers import Context, alert_key_mismatch
from events import DecodeError, decode_record
from events.codec import Role
from store import dead_letters as letters
from store import writes
from store.db import in_savepoint, transaction
from store.instants import from_us, now_us


def list_letters(conn: sqlite3.Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    """The oldest `limit` dead letters, values shown as text where they are text."""
    return [
        {
            "id": letter.id,
            "topic": letter.topic,
            "partition": letter.partition,
            "offset": letter.offset,
            "key": _text(letter.key),
            "value": _text(letter.value),
            "headers": {name: _text(raw) for name, raw in letter.headers},
            "error": letter.error,
            "failed_at": _iso(letter.failed_at_us),
            "redacted_at": None if letter.redacted_at_us is None else _iso(letter.redacted_at_us),
        }
        for letter in letters.oldest(conn, limit=limit)
    ]


def _iso(at_us: int) -> str:
    return from_us(at_us).isoformat().replace("+00:00", "Z")


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
    redacted: int = 0
    """Letters of erased users, left as they are."""
    errors: list[str] = field(default_factory=list)


def retry(conn: sqlite3.Connection, *, roles: Mapping[str, Role]) -> RetryResult:
    """Apply every dead letter again; remove those that apply, re-word those that fail."""
    result = RetryResult()
    for letter in letters.oldest(conn):
        where = f"{letter.topic}/{letter.partition}@{letter.offset}"
        if letter.redacted_at_us is not None:
            result.redacted += 1
            continue
        role = roles.get(letter.topic)
        if role is None:
            result.still_failing += 1
            result.errors.append(f"{where}: topic {letter.topic} is not one coach reads (settings)")
            continue
        ctx = Context(now_us=now_us())
        with transaction(conn):
            error = _apply_letter(conn, role, letter, ctx, where)
            if error is None:
                letters.remove(conn, letter.id)
                result.applied += 1
            else:
                letters.reword(conn, letter.id, error)
                result.still_failing += 1
                result.errors.append(f"{where}: {error}")
    return result


def _apply_letter(
    conn: sqlite3.Connection, role: Role, letter: letters.Letter, ctx: Context, where: str
) -> str | None:
    try:
        decoded = decode_record(role, letter.key, letter.value, letter.headers)
    except DecodeError as exc:
        return str(exc)
    if not decoded.known:
        writes.bump_counter(conn, name="unknown_events")
        return None
    ctx = ctx.for_record(letter.timestamp_ms, erased_at_us=decoded.erased_at_us)
    if decoded.key_mismatch:
        alert_key_mismatch(conn, where)
    # A storage or process fault propagates: the letter stays as it was.
    outcome = in_savepoint(
        conn, "letter", lambda: apply_event(conn, decoded, ctx), undo=is_record_fault
    )
    if isinstance(outcome, Exception):
        return f"could not apply: {type(outcome).__name__}: {outcome}"
    return None
