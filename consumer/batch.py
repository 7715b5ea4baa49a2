"""A batch: fetched records decoded into operations, with the positions they reach.

The consumer and the replay fetch records from Kafka and call `from_fetched`; the tests
and tools that build records by hand call `prepare` with `positions_after`. Either way the
result is one `Batch`, which a writer commits (consumer/commit.py) in one transaction with
its positions, in this process or in the writer process (consumer/wire.py carries it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field

from consumer.handlers import workout_row
from consumer.positions import Partition, moved
from consumer.records import KafkaRecord
from events import WORKOUT_COMPLETED, DecodeError, decode_record
from events.codec import Decoded, Role
from store.rows import PositionRow, WorkoutRow

WorkoutRun = tuple[list[WorkoutRow], list[int]]
"""Completed workouts in a row, stored in one statement: their rows and record indexes."""

Op = WorkoutRun | tuple[int, Decoded] | tuple[int, str]


@dataclass(slots=True, eq=False)
class Batch:
    """Records decoded and sorted into operations, in record order, with the positions
    they reach; ready to commit.

    `ops` items: a WorkoutRun; `(index, Decoded)` for an event applied by its handler;
    `(index, reason)` with a str reason for a dead letter. Indexes point into `records`.

    The caller makes one per fetched batch and hands that same object to a writer's
    `submit()` until it is stored, so that a retry never puts it in hand twice.
    """

    records: Sequence[KafkaRecord]
    ops: list[Op]
    positions: Sequence[PositionRow]
    now_us: int
    unknown: int = 0
    unknown_types: dict[str, int] = field(default_factory=dict)
    accepted: bool = False
    """Handed over (in hand, or already committed): `submit()` does not send it again."""
    committed: bool = False
    """Its result was taken: committed and counted."""
    full: bool = False
    """Sent with every record's raw bytes (the writer process asked for them)."""
    reply: Future[bytes] | None = None


def from_fetched(
    fetched: Mapping[Partition, Sequence[KafkaRecord]],
    roles: Mapping[str, Role],
    *,
    known: Mapping[Partition, int],
    reached: Mapping[Partition, int],
    highs: Mapping[Partition, int | None],
    now_us: int,
) -> Batch:
    """The batch of what a fetch returned (per partition, in order): its records, and a
    position for each partition whose `reached` offset is past the `known` one
    (consumer/positions.py `moved`: past records, transaction markers or both)."""
    positions = moved(known, reached, {p: rs[-1] for p, rs in fetched.items() if rs}, highs)
    records = [r for rs in fetched.values() for r in rs]
    return prepare(records, roles, positions, now_us)


def prepare(
    records: Sequence[KafkaRecord],
    roles: Mapping[str, Role],
    positions: Sequence[PositionRow],
    now_us: int,
) -> Batch:
    """Decode and validate every record, in order; nothing is written. Pure."""
    batch = Batch(records, [], positions, now_us)
    ops = batch.ops
    rows: list[WorkoutRow] = []
    indexes: list[int] = []
    for i, record in enumerate(records):
        try:
            role = roles.get(record.topic)
            if role is None:
                raise DecodeError(f"topic {record.topic!r} is not one coach reads")
            decoded = decode_record(role, record.key, record.value, record.headers)
        except DecodeError as exc:
            if rows:
                ops.append((rows, indexes))
                rows, indexes = [], []
            ops.append((i, str(exc)))
            continue
        if not decoded.known:
            batch.unknown += 1
            types = batch.unknown_types
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
    return batch


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


def is_stored(batch: Batch, stored: Mapping[Partition, int]) -> bool:
    """Whether `batch` was committed: every partition it moves is at or past its offsets
    (a batch always moves each partition it names forward; batches commit in order)."""
    return bool(batch.positions) and all(
        stored.get((p.topic, p.partition), -1) >= p.next_offset for p in batch.positions
    )
