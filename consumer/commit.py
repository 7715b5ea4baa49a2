"""Committing a batch to the projection, in one transaction.

Decoding is done before, in the consumer (or the replay): consumer/batch.py `prepare` turns
the records into rows and operations, and a record that does not decode is marked there.
Committing happens here, in the writer process (consumer/writer.py, the child that receives
the batch over consumer/wire.py) or, without one, on the consumer's thread
(consumer/inline_writer.py). All inside one `BEGIN IMMEDIATE` transaction (store/db.py
`transaction`):
1. each operation of the batch, in record order: a run of completed workouts in one
   statement; any other event by its handler (consumer/handlers.py); a record marked
   undecodable as a dead letter; unknown types are only counted;
2. per partition, the next offset to read and what was seen of the partition;
3. COMMIT. A crash before 3 leaves nothing of the batch; after it, all of it.

If a handler fails on one record, the batch is rolled back and committed again record by
record, each under a savepoint, so that record alone goes to the dead letters. Only a
record's own fault makes a dead letter (consumer/faults.py `is_record_fault`): a storage or
process failure (disk full, I/O error, a corrupt file, no memory) propagates: nothing
advances, and the caller retries later.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from consumer.batch import Batch, positions_after, prepare
from consumer.faults import is_record_fault
from consumer.handlers import HANDLERS, Context, alert_key_mismatch, workout_row
from consumer.records import KafkaRecord
from events import WORKOUT_COMPLETED
from events.codec import Decoded, Role
from store import dead_letters, writes
from store.db import in_savepoint, transaction
from store.rows import PositionRow

log = logging.getLogger(__name__)


@dataclass
class BatchResult:
    """What committing batches did; results add up (`add`)."""

    records: int = 0
    changed: int = 0
    unchanged: int = 0
    unknown: int = 0
    dead_letters: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    batches: int = 1
    """How many batches this counts: 1 for one batch's result, 0 for an empty total."""

    def add(self, other: BatchResult) -> None:
        self.batches += other.batches
        self.records += other.records
        self.changed += other.changed
        self.unchanged += other.unchanged
        self.unknown += other.unknown
        self.dead_letters += other.dead_letters
        for name, n in other.unknown_types.items():
            self.unknown_types[name] = self.unknown_types.get(name, 0) + n


OnResult = Callable[[BatchResult], None]
"""Called with each batch's result, in order (the consumer's totals)."""


def no_batches() -> BatchResult:
    """The total before any batch."""
    return BatchResult(batches=0)


def settle(
    batch: Batch, totals: BatchResult, on_result: OnResult | None, result: BatchResult
) -> None:
    """`batch` is committed (or found stored): mark it, add `result` to a writer's
    `totals`, and pass it to `on_result`."""
    batch.committed = True
    totals.add(result)
    if on_result is not None:
        on_result(result)


class _RecordFailed(Exception):
    """Rolls the batch's transaction back, to commit it again record by record."""


def commit(conn: sqlite3.Connection, batch: Batch) -> BatchResult:
    """Write `batch` and its positions in one transaction (see the module's doc)."""
    ctx = Context(now_us=batch.now_us)
    try:
        with transaction(conn):
            result = _commit_all(conn, batch, ctx, isolate=False)
            writes.save_positions(conn, positions=batch.positions, now_us=ctx.now_us)
        return result
    except _RecordFailed:
        pass
    with transaction(conn):
        result = _commit_all(conn, batch, ctx, isolate=True)
        writes.save_positions(conn, positions=batch.positions, now_us=ctx.now_us)
    return result


def commit_records(
    conn: sqlite3.Connection,
    records: Sequence[KafkaRecord],
    *,
    roles: Mapping[str, Role],
    ctx: Context,
    positions: Sequence[PositionRow] | None = None,
) -> BatchResult:
    """Prepare and commit `records` (in order within each partition) with `positions`,
    the place each partition reached (by default worked out from the records themselves):
    for tests and tools that build records by hand."""
    if positions is None:
        positions = positions_after(records)
    return commit(conn, prepare(records, roles, positions, ctx.now_us))


def _commit_all(
    conn: sqlite3.Connection, batch: Batch, ctx: Context, *, isolate: bool
) -> BatchResult:
    records = batch.records
    result = BatchResult(
        records=len(records),
        unknown=batch.unknown,
        unknown_types=dict(batch.unknown_types),
    )
    for op in batch.ops:
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
        record_ctx = ctx.for_record(records[index].timestamp, erased_at_us=decoded.erased_at_us)
        if decoded.key_mismatch:
            alert_key_mismatch(conn, _where(records[index]))
        if isolate:
            apply = lambda d=decoded, c=record_ctx: apply_event(conn, d, c)  # type: ignore[misc]  # noqa: E731
            _isolated(conn, records, index, apply, result, ctx)
            continue
        try:
            changed = apply_event(conn, decoded, record_ctx)
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


def apply_event(conn: sqlite3.Connection, decoded: Decoded, ctx: Context) -> bool:
    """Handle one decoded event of a known type on its own; return whether it changed rows."""
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
        headers=record.headers,
    )
