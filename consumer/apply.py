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
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from consumer.handlers import HANDLERS, Context, workout_row
from events import WORKOUT_COMPLETED, DecodeError, decode_record
from events.codec import Decoded, Role
from store import writes
from store.db import transaction
from store.rows import PositionRow, WorkoutRow

log = logging.getLogger(__name__)


class KafkaRecord(Protocol):
    """The parts of a Kafka record the projection uses (aiokafka's ConsumerRecord has them)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int | None: ...  # milliseconds since the epoch


@dataclass(frozen=True, slots=True)
class Record:
    """A KafkaRecord built by hand (tests, dead-letter retries)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None = None


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
    records: Sequence[KafkaRecord],
    *,
    roles: Mapping[str, Role],
    ctx: Context,
    positions: Sequence[PositionRow] | None = None,
) -> BatchResult:
    """Apply `records` (in order within each partition) and store `positions`, the place
    each partition reached (by default worked out from the records themselves)."""
    if positions is None:
        positions = positions_after(records)
    try:
        with transaction(conn):
            result = _apply_all(conn, records, roles, ctx, isolate=False)
            writes.save_positions(conn, positions=positions, now_us=ctx.now_us)
        return result
    except sqlite3.OperationalError:
        raise
    except _RecordFailed:
        pass
    with transaction(conn):
        result = _apply_all(conn, records, roles, ctx, isolate=True)
        writes.save_positions(conn, positions=positions, now_us=ctx.now_us)
    return result


def positions_after(
    records: Iterable[KafkaRecord],
    high_watermarks: Mapping[tuple[str, int], int | None] | None = None,
) -> list[PositionRow]:
    """Per partition: the next offset after its last record, its high watermark if known,
    and the time of its last record. Pure."""
    last: dict[tuple[str, int], KafkaRecord] = {}
    for r in records:
        last[(r.topic, r.partition)] = r
    highs = high_watermarks or {}
    return [
        PositionRow(
            topic,
            partition,
            r.offset + 1,
            highs.get((topic, partition)),
            r.timestamp * 1000 if r.timestamp is not None else None,
        )
        for (topic, partition), r in last.items()
    ]


def _apply_all(
    conn: sqlite3.Connection,
    records: Sequence[KafkaRecord],
    roles: Mapping[str, Role],
    ctx: Context,
    *,
    isolate: bool,
) -> BatchResult:
    result = BatchResult(records=len(records))
    run: list[WorkoutRow] = []  # completed workouts waiting to be stored in one statement

    def flush() -> None:
        if run:
            new = writes.add_workouts(conn, workouts=run)
            result.changed += new
            result.unchanged += len(run) - new
            run.clear()

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
        if decoded.type == WORKOUT_COMPLETED and not isolate:
            run.append(workout_row(decoded.data))
            continue
        flush()
        if not isolate:
            try:
                changed = apply_decoded(conn, decoded, ctx)
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
                changed = apply_decoded(conn, decoded, ctx)
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
    try:
        flush()
    except sqlite3.OperationalError:
        raise
    except Exception as exc:
        log.warning("a run of workouts failed (%r); retrying the batch record by record", exc)
        raise _RecordFailed from exc
    if result.unknown:
        writes.bump_counter(conn, name="unknown_events", by=result.unknown)
    return result


def apply_decoded(conn: sqlite3.Connection, decoded: Decoded, ctx: Context) -> bool:
    """Apply one decoded event of a known type on its own; return whether it changed rows."""
    if decoded.type == WORKOUT_COMPLETED:
        return writes.add_workouts(conn, workouts=[workout_row(decoded.data)]) == 1
    return HANDLERS[decoded.type](conn, decoded.data, ctx)


def _where(record: KafkaRecord) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"


def _dead_letter(conn: sqlite3.Connection, record: KafkaRecord, error: str, ctx: Context) -> None:
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
