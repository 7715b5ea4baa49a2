"""Applying one batch of records to the projection, in one transaction.

Commit steps, in order, all inside one `BEGIN IMMEDIATE` transaction:
1. decode each record; one that does not decode or validate becomes a dead letter;
2. apply each decoded event with its handler (an unknown type is only counted);
3. store, per partition, the next offset to read and what was seen of the partition;
4. COMMIT. A crash before 4 leaves nothing of the batch; after it, all of it.

If a handler fails unexpectedly on one record, the batch is rolled back and applied again
record by record under a savepoint, so that record alone goes to the dead letters. A storage
failure (disk full, I/O error) propagates: nothing advances, and the caller retries later.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from consumer.handlers import HANDLERS, Context
from events import DecodeError, decode_record
from events.codec import Role
from store import writes
from store.db import transaction
from store.writes import PositionRow

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Record:
    """The parts of a Kafka record the projection uses."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int | None = None


@dataclass
class BatchResult:
    records: int = 0
    changed: int = 0
    unchanged: int = 0
    unknown: int = 0
    dead_letters: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)


class _RecordFailed(Exception):
    pass


def apply_batch(
    conn: sqlite3.Connection,
    records: Sequence[Record],
    *,
    roles: Mapping[str, Role],
    ctx: Context,
    high_watermarks: Mapping[tuple[str, int], int | None] | None = None,
) -> BatchResult:
    """Apply `records` (in order within each partition) and store the positions they reach."""
    try:
        with transaction(conn):
            result = _apply_all(conn, records, roles, ctx, isolate=False)
            _save_positions(conn, records, ctx, high_watermarks or {})
        return result
    except sqlite3.OperationalError:
        raise
    except _RecordFailed:
        pass
    with transaction(conn):
        result = _apply_all(conn, records, roles, ctx, isolate=True)
        _save_positions(conn, records, ctx, high_watermarks or {})
    return result


def _apply_all(
    conn: sqlite3.Connection,
    records: Sequence[Record],
    roles: Mapping[str, Role],
    ctx: Context,
    *,
    isolate: bool,
) -> BatchResult:
    result = BatchResult(records=len(records))
    for record in records:
        try:
            decoded = decode_record(roles[record.topic], record.key, record.value)
        except DecodeError as exc:
            _dead_letter(conn, record, str(exc), ctx)
            result.dead_letters += 1
            continue
        if not decoded.known:
            result.unknown += 1
            result.unknown_types[decoded.type] = result.unknown_types.get(decoded.type, 0) + 1
            continue
        handler = HANDLERS[decoded.type]
        if not isolate:
            try:
                changed = handler(conn, decoded.data, ctx)
            except sqlite3.OperationalError:
                raise
            except Exception as exc:
                log.warning(
                    "record %s failed (%r); retrying the batch record by record",
                    _where(record),
                    exc,
                )
                raise _RecordFailed from exc
        else:
            conn.execute("SAVEPOINT record")
            try:
                changed = handler(conn, decoded.data, ctx)
            except sqlite3.OperationalError:
                raise
            except Exception as exc:
                conn.execute("ROLLBACK TO record")
                conn.execute("RELEASE record")
                _dead_letter(conn, record, f"could not apply: {type(exc).__name__}: {exc}", ctx)
                result.dead_letters += 1
                continue
            conn.execute("RELEASE record")
        if changed:
            result.changed += 1
        else:
            result.unchanged += 1
    if result.unknown:
        writes.bump_counter(conn, name="unknown_events", by=result.unknown)
    return result


def _where(record: Record) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"


def _dead_letter(conn: sqlite3.Connection, record: Record, error: str, ctx: Context) -> None:
    log.warning("dead letter %s: %s", _where(record), error)
    writes.add_dead_letter(
        conn,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        error=error,
        failed_at_us=ctx.now_us,
    )


def _save_positions(
    conn: sqlite3.Connection,
    records: Sequence[Record],
    ctx: Context,
    high_watermarks: Mapping[tuple[str, int], int | None],
) -> None:
    reached: dict[tuple[str, int], PositionRow] = {}
    for r in records:
        tp = (r.topic, r.partition)
        before = reached.get(tp)
        event_at = r.timestamp_ms * 1000 if r.timestamp_ms is not None else None
        if before is not None and before.last_event_at_us is not None and event_at is not None:
            event_at = max(event_at, before.last_event_at_us)
        reached[tp] = PositionRow(
            r.topic, r.partition, r.offset + 1, high_watermarks.get(tp), event_at
        )
    writes.save_positions(conn, positions=reached.values(), now_us=ctx.now_us)
