"""What goes over the pipe between the consumer (or the replay) and its writer process.

A request is a `Batch` as msgpack: the rows of each run of completed workouts, and whole
records (raw bytes included, for the dead letters) only for the other operations, which
the child decodes again (about 100 bytes a record in all); every record if the batch is
sent `full`. A reply is the batch's `BatchResult`, or why it failed: a storage or process
fault (raised in the parent as `sqlite3.OperationalError`), a record the child was not sent
(`RecordNotHeld`), anything else (`WriterError`). Each message is framed by its length; an
empty one (`CLOSE`) stops the child. Pure but for `send` and `receive`.
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Mapping, Sequence
from typing import IO, Any

import msgspec

from consumer.batch import Batch
from consumer.commit import BatchResult
from consumer.faults import is_record_fault
from consumer.records import KafkaRecord, Record
from events import DecodeError, decode_record
from events.codec import Role
from store.rows import PositionRow

_RUN, _DECODED, _DEAD = 0, 1, 2
_OK, _STORAGE, _FAILED, _NEEDS_RECORDS = 0, 1, 2, 3
CLOSE = b""

_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder().decode


class WriterError(Exception):
    """The writer process could not commit a batch (not a storage error); the message says
    why. The batch was not stored."""


class WriterGone(WriterError):
    """The writer process exited (killed, out of memory) before replying for a batch."""


class RecordNotHeld(WriterError):
    """The child was asked for the raw bytes of a record it was not sent (a completed
    workout about to become a dead letter): the batch must be sent again with them all."""


def encode_batch(batch: Batch, *, full: bool = False) -> bytes:
    """The batch as the writer needs it: the rows of each run of completed workouts, and
    whole records (raw bytes included) only for the other operations (few), or for every
    record if `full`."""
    ops: list[list[Any]] = []
    held: list[list[Any]] = []
    records = batch.records

    def hold(i: int) -> None:
        r = records[i]
        held.append([i, r.topic, r.partition, r.offset, r.key, r.value, r.timestamp, r.headers])

    for first, second in batch.ops:
        if isinstance(first, list):
            ops.append([_RUN, first, second])
            if full:
                assert isinstance(second, list)
                for i in second:
                    hold(i)
            continue
        hold(first)
        ops.append([_DEAD, first, second] if isinstance(second, str) else [_DECODED, first])
    return _encode(
        [
            batch.now_us,
            len(records),
            held,
            ops,
            batch.positions,
            batch.unknown,
            batch.unknown_types,
        ]
    )


class _HeldRecords(Sequence[KafkaRecord]):
    """The records of a batch the writer holds: those of operations other than completed
    workouts (all of them in a batch sent `full`). A completed workout's record is asked for
    only if storing its row fails, to make it a dead letter; if it is not held, the batch
    fails as a whole (nothing of it is stored) with `RecordNotHeld`, and the parent sends it
    again with every record."""

    def __init__(self, count: int, held: list[list[Any]]) -> None:
        self._count = count
        self._held = {row[0]: _held_record(row) for row in held}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        try:
            return self._held[index]
        except KeyError:
            raise RecordNotHeld(
                f"record {index} of the batch (a completed workout) could not be stored, "
                "and the writer process does not hold its raw bytes"
            ) from None


def _held_record(row: list[Any]) -> Record:
    _, topic, partition, offset, key, value, timestamp, headers = row
    return Record(topic, partition, offset, key, value, timestamp, tuple(map(tuple, headers)))


def decode_batch(payload: bytes, roles: Mapping[str, Role]) -> Batch:
    now_us, count, held, ops, positions, unknown, unknown_types = _decode(payload)
    records = _HeldRecords(count, held)
    batch = Batch(records, [], [PositionRow(*p) for p in positions], now_us, unknown, unknown_types)
    for op in ops:
        if op[0] == _DECODED:
            record = records[op[1]]
            try:
                decoded = decode_record(
                    roles[record.topic], record.key, record.value, record.headers
                )
            except DecodeError as exc:  # cannot happen: it decoded in the parent
                batch.ops.append((op[1], str(exc)))
                continue
            batch.ops.append((op[1], decoded))
        else:  # a run of workouts (rows, indexes), or a dead letter (index, reason)
            batch.ops.append((op[1], op[2]))
    return batch


def result_reply(result: BatchResult) -> bytes:
    return _encode(
        [
            _OK,
            result.records,
            result.changed,
            result.unchanged,
            result.unknown,
            result.dead_letters,
            result.unknown_types,
        ]
    )


def failure_reply(exc: BaseException) -> bytes:
    """What the child answers for a batch it could not commit: a record it was not sent; a
    storage or process fault (retried by the caller); anything else (a bug)."""
    if isinstance(exc, RecordNotHeld):
        return _encode([_NEEDS_RECORDS, str(exc)])
    if isinstance(exc, sqlite3.OperationalError):
        return _encode([_STORAGE, str(exc)])
    status = _FAILED if is_record_fault(exc) else _STORAGE
    return _encode([status, f"{type(exc).__name__}: {exc}"])


def parse_reply(reply: bytes) -> BatchResult:
    """The batch's result; raises what the child's failure says."""
    status, *rest = _decode(reply)
    if status == _STORAGE:
        raise sqlite3.OperationalError(rest[0])
    if status == _NEEDS_RECORDS:
        raise RecordNotHeld(rest[0])
    if status == _FAILED:
        raise WriterError(rest[0])
    records, changed, unchanged, unknown, dead_letters, unknown_types = rest
    return BatchResult(records, changed, unchanged, unknown, dead_letters, unknown_types)


_LENGTH = struct.Struct("<Q")


def send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def receive(stream: IO[bytes]) -> bytes:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _LENGTH.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the other side closed the pipe in the middle of a message")
    return payload
