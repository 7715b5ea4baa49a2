"""Applying one batch of records to the projection, in one transaction.

Commit steps, in order, all inside one `BEGIN IMMEDIATE` transaction:
1. decode each record; one that does not decode or validate becomes a dead letter;
2. apply each decoded event with its handler (an unknown type is only counted);
3. store, per partition, the next offset to read and what was seen of the partition;
4. COMMIT. A crash before 4 leaves nothing of the batch; after it, all of it.

If a handler fails unexpectedly on one record, the batch is rolled back and applied again
record by record under a savepoint, so that record alone goes to the dead letters. Only a
record's own fault makes a dead letter (`is_record_fault`): a storage or process failure
(disk full, I/O error, a corrupt file, no memory) propagates: nothing advances, and the
caller retries later.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from consumer.handlers import HANDLERS, Context, workout_row
from events import WORKOUT_COMPLETED, DecodeError, decode_record
from events.codec import Decoded, Role
from store import dead_letters, writes
from store.db import in_savepoint, transaction
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
    headers: Sequence[tuple[str, bytes]] = ()


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


# -- whose fault: the record's, or the storage's (pure) --------------------------------------------

_NOT_RECORD_FAULTS = (sqlite3.DatabaseError, MemoryError, OSError, SystemError)


def is_record_fault(exc: BaseException) -> bool:
    """Whether `exc`, raised while applying one record, is that record's own fault, which
    makes it a dead letter (its offset advances). Pure.

    A constraint or a value SQLite refuses (IntegrityError, DataError), and the ordinary
    exceptions a handler raises on odd data (ValueError, TypeError, KeyError, ...) are the
    record's. Any other SQLite error (disk full, I/O error, a corrupt file: DatabaseError and
    its OperationalError), MemoryError, OSError and SystemError are faults of the storage or
    of the process: they would fail any record, so they must not advance an offset. Neither
    is anything that is not an Exception (KeyboardInterrupt, a cancellation)."""
    if isinstance(exc, sqlite3.IntegrityError | sqlite3.DataError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, _NOT_RECORD_FAULTS)


# -- 1. prepare: decode and classify, no I/O ------------------------------------------------------

WorkoutRun = tuple[list[WorkoutRow], list[int]]
"""Completed workouts in a row, stored in one statement: their rows and record indexes."""


@dataclass(slots=True)
class Prepared:
    """A batch decoded and sorted into operations, in record order; ready to commit.

    `ops` items: a WorkoutRun; `(index, Decoded)` for an event applied by its handler;
    `(index, reason)` with a str reason for a dead letter. Indexes point into `records`.
    """

    records: Sequence[KafkaRecord]
    ops: list[WorkoutRun | tuple[int, Decoded] | tuple[int, str]]
    unknown: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)


def prepare(records: Sequence[KafkaRecord], roles: Mapping[str, Role]) -> Prepared:
    """Decode and validate every record; nothing is written. Pure."""
    prepared = Prepared(records, [])
    ops = prepared.ops
    rows: list[WorkoutRow] = []
    indexes: list[int] = []
    for i, record in enumerate(records):
        try:
            role = roles.get(record.topic)
            if role is None:
                raise DecodeError(f"topic {record.topic!r} is not one coach reads")
            decoded = decode_record(role, record.key, record.value)
        except DecodeError as exc:
            if rows:
                ops.append((rows, indexes))
                rows, indexes = [], []
            ops.append((i, str(exc)))
            continue
        if not decoded.known:
            prepared.unknown += 1
            types = prepared.unknown_types
            types[decoded.type] = types.get(decoded.type, 0) + 1
            continue
        if decoded.type == WORKOUT_COMPLETED:
            rows.append(workout_row(decoded.data))
            indexes.append(i)
            continue
        if rows:
            ops.append((rows, indexes))
            rows, indexes = [], []
        ops.append((i, decoded))
    if rows:
        ops.append((rows, indexes))
    return prepared


# -- 2. commit: one transaction --------------------------------------------------------------------


def commit(
    conn: sqlite3.Connection,
    prepared: Prepared,
    *,
    ctx: Context,
    positions: Sequence[PositionRow],
) -> BatchResult:
    """Write a prepared batch and `positions` in one transaction (see the module's doc)."""
    try:
        with transaction(conn):
            result = _commit_all(conn, prepared, ctx, isolate=False)
            writes.save_positions(conn, positions=positions, now_us=ctx.now_us)
        return result
    except _RecordFailed:
        pass
    with transaction(conn):
        result = _commit_all(conn, prepared, ctx, isolate=True)
        writes.save_positions(conn, positions=positions, now_us=ctx.now_us)
    return result


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
    return commit(conn, prepare(records, roles), ctx=ctx, positions=positions)


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


def _commit_all(
    conn: sqlite3.Connection, prepared: Prepared, ctx: Context, *, isolate: bool
) -> BatchResult:
    records = prepared.records
    result = BatchResult(
        records=len(records),
        unknown=prepared.unknown,
        unknown_types=dict(prepared.unknown_types),
    )
    for op in prepared.ops:
        first, second = op
        if isinstance(first, list):  # a run of completed workouts
            rows, indexes = first, second
            assert isinstance(indexes, list)
            if not isolate:
                try:
                    new = writes.add_workouts(conn, workouts=rows)
                except Exception as exc:
                    if not is_record_fault(exc):
                        raise
                    log.warning("a run of workouts failed (%r); retrying record by record", exc)
                    raise _RecordFailed from exc
                result.changed += new
                result.unchanged += len(rows) - new
                continue
            for row, index in zip(rows, indexes, strict=True):
                _isolated(
                    conn,
                    records,
                    index,
                    lambda row=row: writes.add_workouts(conn, workouts=[row]) == 1,  # type: ignore[misc]
                    result,
                    ctx,
                )
            continue
        index = first
        assert isinstance(index, int)
        if isinstance(second, str):
            _dead_letter(conn, records[index], second, ctx)
            result.dead_letters += 1
            continue
        decoded = second
        assert isinstance(decoded, Decoded)
        record_ctx = ctx.for_record(records[index].timestamp)
        if isolate:
            apply = lambda d=decoded, c=record_ctx: apply_decoded(conn, d, c)  # type: ignore[misc]  # noqa: E731
            _isolated(conn, records, index, apply, result, ctx)
            continue
        try:
            changed = apply_decoded(conn, decoded, record_ctx)
        except Exception as exc:
            if not is_record_fault(exc):
                raise
            log.warning(
                "record %s failed (%r); retrying the batch record by record",
                _where(records[index]),
                exc,
            )
            raise _RecordFailed from exc
        if changed:
            result.changed += 1
        else:
            result.unchanged += 1
    if result.unknown:
        writes.bump_counter(conn, name="unknown_events", by=result.unknown)
    return result


def _isolated(
    conn: sqlite3.Connection,
    records: Sequence[KafkaRecord],
    index: int,
    apply: Callable[[], bool],
    result: BatchResult,
    ctx: Context,
) -> None:
    """Apply record `index` under a savepoint; a fault of its own makes it a dead letter
    alone (any other failure propagates: the transaction is rolled back)."""
    changed = in_savepoint(conn, "record", apply, undo=is_record_fault)
    if isinstance(changed, Exception):
        error = f"could not apply: {type(changed).__name__}: {changed}"
        _dead_letter(conn, records[index], error, ctx)
        result.dead_letters += 1
        return
    if changed:
        result.changed += 1
    else:
        result.unchanged += 1


def apply_decoded(conn: sqlite3.Connection, decoded: Decoded, ctx: Context) -> bool:
    """Apply one decoded event of a known type on its own; return whether it changed rows."""
    if decoded.type == WORKOUT_COMPLETED:
        return writes.add_workouts(conn, workouts=[workout_row(decoded.data)]) == 1
    return HANDLERS[decoded.type](conn, decoded.data, ctx)


def _where(record: KafkaRecord) -> str:
    return f"{record.topic}/{record.partition}@{record.offset}"


def _dead_letter(conn: sqlite3.Connection, record: KafkaRecord, error: str, ctx: Context) -> None:
    log.warning("dead letter %s: %s", _where(record), error)
    dead_letters.add_dead_letter(
        conn,
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value,
        error=error,
        failed_at_us=ctx.now_us,
        timestamp_ms=record.timestamp,
    )
