"""Dead letters: listing them, applying them again after a fix, and resolving them.

A record that could not be decoded or applied was kept in `dead_letters` with its reason,
and its partition moved on. After a fix (a newer coach that understands it, a corrected
contract), `retry` applies each one again, in topic/partition/offset order, each in its own
transaction: one that applies now is removed; one that still fails keeps its row with the
new reason. A redacted letter (its user was erased: no key, no value) has nothing to apply
and is left as it is, until `COACH_DEAD_LETTER_DAYS` removes it.

A letter that will never apply (the monolith published a broken record, and the fact it
carried was published again correctly, or does not matter) is *resolved*: removed by its
id, on purpose, by someone who says why (`coach dead-letters resolve`, which logs who, when
and why). Its record stays in its topic until retention removes it.
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

FIELDS = (
    "id",
    "topic",
    "partition",
    "offset",
    "key",
    "value",
    "headers",
    "error",
    "failed_at",
    "timestamp",
    "redacted_at",
)
"""The fields of a listed letter, in order (README.md's command table names them)."""


def list_letters(conn: sqlite3.Connection, *, limit: int | None = 100) -> list[dict[str, Any]]:
    """The `limit` most recently stored dead letters (all: None), newest first."""
    return [described(letter) for letter in letters.newest(conn, limit=limit)]


def described(letter: letters.Letter) -> dict[str, Any]:
    """A letter as the command line prints it: values as text where they are text (else
    `0x` and hex), instants in ISO 8601 UTC."""
    return {
        "id": letter.id,
        "topic": letter.topic,
        "partition": letter.partition,
        "offset": letter.offset,
        "key": _text(letter.key),
        "value": _text(letter.value),
        "headers": {name: _text(raw) for name, raw in letter.headers},
        "error": letter.error,
        "failed_at": _iso(letter.failed_at_us),
        "timestamp": None if letter.timestamp_ms is None else _iso(letter.timestamp_ms * 1000),
        "redacted_at": None if letter.redacted_at_us is None else _iso(letter.redacted_at_us),
    }


class UnknownLetters(Exception):
    """Ids that name no dead letter (nothing was resolved)."""

    def __init__(self, ids: list[int]) -> None:
        super().__init__(f"no dead letter with id {', '.join(map(str, ids))}")
        self.ids = ids


def resolve(conn: sqlite3.Connection, ids: list[int]) -> list[letters.Letter]:
    """Remove the letters of `ids`, all or none (UnknownLetters when one does not exist);
    returns them, for the record of who resolved what."""
    wanted = list(dict.fromkeys(ids))
    with transaction(conn):
        found = letters.by_ids(conn, wanted)
        missing = sorted(set(wanted) - {letter.id for letter in found})
        if missing:
            raise UnknownLetters(missing)
        for letter in found:
            letters.remove(conn, letter.id)
    return found


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
