"""Committing batches in a child process, so that decoding and writing use two cores.

Applying a batch costs about as much in Python (decoding records, building rows) as in
SQLite (inserting them into the user index). Done one after the other on one core, the
replay took 3.3 times as long as a bare read of the same records. `WriterProcess` keeps the
decoding here and commits in a child process with its own connection to the same file:
while the child writes batch N, this process fetches and decodes batch N+1.

What goes over the pipe is the `Prepared` batch (consumer/apply.py) as msgpack: the rows
of each run of completed workouts, and whole records (raw bytes included, for the dead
letters) only for the other operations, which the child decodes again (about 100 bytes a
record in all). The child commits with the same `commit()` as the in-process path: one
transaction per batch, offsets included, so what is on disk is always whole batches in
order. Replies come back in order; a storage error in the child (or any fault that is not
a record's own, consumer/apply.py `is_record_fault`) is raised here as
`sqlite3.OperationalError`, a child that died as `WriterGone`, anything else as
`WriterError`. After a failure the child stops; `restart()` sends what is not stored again.

A batch is a `Batch`, handed to `submit()` once and kept by the caller: submitting it again
after a failure (as the consumer does until it is stored) never puts it in hand twice.

Should a completed workout's row fail to insert (its own fault: it becomes a dead letter),
the child needs the record's raw bytes, which it was not sent: it replies so, and this
process sends that batch again, every record held, to a new child.

The child dies with this process (Linux `PR_SET_PDEATHSIG`), so a SIGKILL never leaves a
writer behind that could commit after its parent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import gc
import json
import logging
import os
import signal
import sqlite3
import struct
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import msgspec

from consumer.apply import (
    BatchResult,
    KafkaRecord,
    Prepared,
    Record,
    commit,
    is_record_fault,
    prepare,
)
from consumer.handlers import Context
from events import DecodeError, decode_record
from events.codec import Role
from store import reads
from store.db import connect, rollback_open, set_pragmas
from store.rows import PositionRow

log = logging.getLogger(__name__)

DEPTH = 3
"""Batches handed over and not yet known to be committed: one being written, the others
waiting in the pipe (slack, since batches differ in size and cost)."""

_RUN, _DECODED, _DEAD = 0, 1, 2
_OK, _STORAGE, _FAILED, _NEEDS_RECORDS = 0, 1, 2, 3
_CLOSE = b""

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


@dataclass(slots=True, eq=False)
class Batch:
    """A prepared batch and the offsets it reaches, with how far it got. The caller makes
    one per fetched batch and hands that same object to `submit()` until it is stored, so
    that a retry never puts it in hand twice."""

    prepared: Prepared
    positions: Sequence[PositionRow]
    now_us: int
    accepted: bool = False
    """Handed over (in hand, or already committed): `submit()` does not send it again."""
    committed: bool = False
    """Its result was taken: committed and counted."""
    full: bool = False
    """Sent with every record's raw bytes (the child asked for them)."""
    reply: Future[bytes] | None = None


# -- the wire format (pure) -----------------------------------------------------------------------


def encode_batch(
    prepared: Prepared, positions: Sequence[PositionRow], now_us: int, *, full: bool = False
) -> bytes:
    """The batch as the writer needs it: the rows of each run of completed workouts, and
    whole records (raw bytes included) only for the other operations (few), or for every
    record if `full`."""
    ops: list[list[Any]] = []
    held: list[list[Any]] = []
    records = prepared.records

    def hold(i: int) -> None:
        r = records[i]
        held.append([i, r.topic, r.partition, r.offset, r.key, r.value, r.timestamp])

    for first, second in prepared.ops:
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
            now_us,
            len(records),
            held,
            ops,
            positions,
            prepared.unknown,
            prepared.unknown_types,
        ]
    )


class _Records(Sequence[KafkaRecord]):
    """The records of a batch the writer holds: those of operations other than completed
    workouts (all of them in a batch sent `full`). A completed workout's record is asked for
    only if storing its row fails, to make it a dead letter; if it is not held, the batch
    fails as a whole (nothing of it is stored) with `RecordNotHeld`, and the parent sends it
    again with every record."""

    def __init__(self, count: int, held: list[list[Any]]) -> None:
        self._count = count
        self._held = {row[0]: Record(*row[1:]) for row in held}

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


def decode_batch(
    payload: bytes, roles: Mapping[str, Role]
) -> tuple[Prepared, list[PositionRow], Context]:
    now_us, count, held, ops, positions, unknown, unknown_types = _decode(payload)
    records = _Records(count, held)
    prepared = Prepared(records, [], unknown, unknown_types)
    for op in ops:
        if op[0] == _DECODED:
            record = records[op[1]]
            try:
                decoded = decode_record(roles[record.topic], record.key, record.value)
            except DecodeError as exc:  # cannot happen: it decoded in the parent
                prepared.ops.append((op[1], str(exc)))
                continue
            prepared.ops.append((op[1], decoded))
        else:  # a run of workouts (rows, indexes), or a dead letter (index, reason)
            prepared.ops.append((op[1], op[2]))
    return prepared, [PositionRow(*p) for p in positions], Context(now_us=now_us)


def _result_reply(result: BatchResult) -> bytes:
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


def _failure_reply(exc: BaseException) -> bytes:
    """What the child answers for a batch it could not commit: a record it was not sent; a
    storage or process fault (retried by the caller); anything else (a bug)."""
    if isinstance(exc, RecordNotHeld):
        return _encode([_NEEDS_RECORDS, str(exc)])
    if isinstance(exc, sqlite3.OperationalError):
        return _encode([_STORAGE, str(exc)])
    status = _FAILED if is_record_fault(exc) else _STORAGE
    return _encode([status, f"{type(exc).__name__}: {exc}"])


def _parse_reply(reply: bytes) -> BatchResult:
    status, *rest = _decode(reply)
    if status == _STORAGE:
        raise sqlite3.OperationalError(rest[0])
    if status == _NEEDS_RECORDS:
        raise RecordNotHeld(rest[0])
    if status == _FAILED:
        raise WriterError(rest[0])
    records, changed, unchanged, unknown, dead_letters, unknown_types = rest
    return BatchResult(records, changed, unchanged, unknown, dead_letters, unknown_types)


# -- the child ------------------------------------------------------------------------------------

_LENGTH = struct.Struct("<Q")


def _send(stream: IO[bytes], payload: bytes) -> None:
    stream.write(_LENGTH.pack(len(payload)))
    stream.write(payload)
    stream.flush()


def _receive(stream: IO[bytes]) -> bytes:
    header = stream.read(_LENGTH.size)
    if len(header) < _LENGTH.size:
        raise EOFError("the other side closed the pipe")
    (size,) = _LENGTH.unpack(header)
    payload = stream.read(size)
    if len(payload) < size:
        raise EOFError("the other side closed the pipe in the middle of a message")
    return payload


def _die_with_parent(parent: int) -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux: the EOF on the pipe still stops us
        pass
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


FAULT_ENV = "COACH_WRITER_FAULT"


def _fault_hook(spec: str) -> Callable[[str, int], None]:
    """A test hook, read by the child only: `COACH_WRITER_FAULT=<seam>:<n>` makes the child
    kill itself (SIGKILL) at `<seam>` of the n-th batch it receives, `before-commit` (sent,
    not committed) or `after-commit` (committed, not replied). Unset: does nothing."""
    seam, _, nth = spec.partition(":")

    def fault(where: str, count: int) -> None:
        if where == seam and str(count) == nth:
            os.kill(os.getpid(), signal.SIGKILL)

    return fault


def serve(path: str, roles: dict[str, Role], pragmas: list[str], parent: int) -> None:
    """The child: commit each batch read from stdin, reply on stdout, until told to close."""
    _die_with_parent(parent)
    # Ctrl-C, or a SIGTERM sent to the whole process group, is the parent's to handle: it
    # lets the batches in hand be committed, then closes the pipe, which ends this loop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # stdout carries replies: nothing else may be printed there
    # Each batch makes ~100,000 short-lived objects, freed by their reference counts; the
    # cycle collector would only scan them over and over. It runs between batches instead.
    gc.disable()
    conn = connect(path)
    set_pragmas(conn, pragmas)
    fault = _fault_hook(os.environ.get(FAULT_ENV, ""))
    received = 0
    try:
        while True:
            try:
                payload = _receive(requests)
            except EOFError:
                return
            if payload == _CLOSE:
                return
            received += 1
            fault("before-commit", received)
            try:
                prepared, positions, ctx = decode_batch(payload, roles)
                reply = _result_reply(commit(conn, prepared, ctx=ctx, positions=positions))
            except Exception as exc:
                # Stop at the first failure: batches already in the pipe must not be
                # committed before this one. The parent sends them all again to a new writer.
                if not isinstance(exc, RecordNotHeld | sqlite3.OperationalError):
                    log.exception("the writer process could not commit a batch")
                _send(replies, _failure_reply(exc))
                return
            fault("after-commit", received)
            _send(replies, reply)
            gc.collect(0)
    finally:
        conn.close()


# -- the parent -----------------------------------------------------------------------------------

OnResult = Callable[[BatchResult], None]


class InlineWriter:
    """The same interface, committing on the caller's thread (`COACH_WRITER_PROCESS=false`,
    and databases that are not files)."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        roles: Mapping[str, Role],
        on_result: OnResult | None = None,
    ) -> None:
        self.conn = conn
        self.roles = dict(roles)
        self.on_result = on_result
        self.totals = BatchResult()

    async def apply(
        self, records: Sequence[KafkaRecord], positions: Sequence[PositionRow], now_us: int
    ) -> None:
        await self.submit(Batch(prepare(records, self.roles), positions, now_us))

    async def submit(self, batch: Batch) -> None:
        """Commit `batch`. Safe to call again after it raised: a transaction its failed
        COMMIT left open is rolled back, and a batch whose offsets are stored is counted
        (records only), not applied again."""
        if batch.committed:
            return
        if batch.accepted:  # a previous attempt raised
            rollback_open(self.conn)
            if _is_stored(batch, reads.positions(self.conn)):
                self._count(batch, BatchResult(records=len(batch.prepared.records)))
                return
        batch.accepted = True
        result = commit(
            self.conn, batch.prepared, ctx=Context(now_us=batch.now_us), positions=batch.positions
        )
        self._count(batch, result)

    def _count(self, batch: Batch, result: BatchResult) -> None:
        batch.committed = True
        _add(self.totals, result)
        if self.on_result is not None:
            self.on_result(result)

    async def drain(self) -> None:
        pass

    def restart(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def kill(self) -> None:
        pass


class WriterProcess:
    """Commits batches to the projection file at `path` in a child process, in order.

    `submit()` hands a prepared batch over; it waits only while `depth` batches are in the
    child's hands, taking their results (`on_result`, `totals`) in order. `drain()` waits
    for all of them. If a batch fails (`sqlite3.OperationalError` for a storage error,
    `WriterGone` if the child died, `WriterError` otherwise), the child stops and neither it
    nor any batch after it is committed; they stay in hand, and `restart()` starts a new
    child and sends them all again, in order. Always `close()` (or `kill()` to give up).
    """

    def __init__(
        self,
        path: Path,
        roles: Mapping[str, Role],
        pragmas: Sequence[str] = (),
        *,
        depth: int = DEPTH,
        on_result: OnResult | None = None,
        keep_fds: Sequence[int] = (),
    ) -> None:
        """`keep_fds`: descriptors the child holds open until it exits (a lock)."""
        self.path = path
        self.roles = dict(roles)
        self.pragmas = list(pragmas)
        self.depth = depth
        self.on_result = on_result
        self.keep_fds = tuple(keep_fds)
        self.totals = BatchResult()
        self._in_hand: deque[Batch] = deque()
        self._spawn()

    def _spawn(self) -> None:
        # A new interpreter (not multiprocessing: its spawn re-runs the caller's __main__),
        # importing coach the way this process does.
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "consumer.writer",
                str(self.path),
                json.dumps(self.roles),
                json.dumps(self.pragmas),
                str(os.getpid()),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            pass_fds=self.keep_fds,
        )
        assert self._process.stdin is not None and self._process.stdout is not None
        self._requests: IO[bytes] = self._process.stdin
        self._replies: IO[bytes] = self._process.stdout
        self._sender = ThreadPoolExecutor(1, "coach-writer-send")
        self._receiver = ThreadPoolExecutor(1, "coach-writer-receive")

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def in_hand(self) -> int:
        """Batches handed over and not known to be committed."""
        return len(self._in_hand)

    async def submit(self, batch: Batch) -> None:
        """Hand `batch` over, once: submitting it again after a failure (the caller retries
        until it is stored) only takes the results that are there, since `restart()` has
        sent it again with the others in hand."""
        if not batch.accepted:
            while len(self._in_hand) >= self.depth:
                await self._settle_oldest()
            self._send(batch)
            self._in_hand.append(batch)
            batch.accepted = True
        # Take the results already there, so that counts (and failures) show without delay.
        while self._in_hand and (reply := self._in_hand[0].reply) is not None and reply.done():
            await self._settle_oldest()

    async def apply(
        self, records: Sequence[KafkaRecord], positions: Sequence[PositionRow], now_us: int
    ) -> None:
        """Decode `records` here (`prepare`), then `submit()` them."""
        await self.submit(Batch(prepare(records, self.roles), positions, now_us))

    async def drain(self) -> None:
        while self._in_hand:
            await self._settle_oldest()

    def _send(self, batch: Batch) -> None:
        payload = encode_batch(batch.prepared, batch.positions, batch.now_us, full=batch.full)
        self._sender.submit(_send, self._requests, payload)
        batch.reply = self._receiver.submit(_receive, self._replies)

    async def _settle_oldest(self) -> None:
        while True:
            batch = self._in_hand[0]
            assert batch.reply is not None
            try:
                reply = await asyncio.wrap_future(batch.reply)
            except (EOFError, OSError, ValueError) as exc:
                code = await asyncio.to_thread(self._wait, 5.0)
                raise WriterGone(f"the writer process is gone (exit code {code}): {exc}") from exc
            try:
                result = _parse_reply(reply)  # raises for a failed batch, which stays in hand
            except RecordNotHeld:
                if batch.full:
                    raise
                # A completed workout is to be a dead letter: send it all again, raw bytes
                # of every record included, to a new child (this one has stopped).
                log.warning("a batch is sent again with every record, to dead-letter one")
                batch.full = True
                self.restart()
                continue
            break
        self._in_hand.popleft()
        self._count(batch, result)

    def _count(self, batch: Batch, result: BatchResult) -> None:
        batch.committed = True
        _add(self.totals, result)
        if self.on_result is not None:
            self.on_result(result)

    def restart(self) -> None:
        """A new child, sent every batch in hand again (after a failure).

        A child that died may have committed a batch without getting to reply: the stored
        offsets tell. Such batches are counted (records only) and not sent again, since
        applying one twice would count its unknown events twice. If this raises (the stored
        offsets cannot be read, no child can be started), the batches stay in hand and
        calling it again is safe."""
        self.kill()
        stored = reads.positions_at(self.path)
        while self._in_hand and _is_stored(self._in_hand[0], stored):
            batch = self._in_hand.popleft()
            self._count(batch, BatchResult(records=len(batch.prepared.records)))
        self._spawn()
        for batch in self._in_hand:
            self._send(batch)

    def _wait(self, seconds: float) -> int | None:
        try:
            return self._process.wait(seconds)
        except subprocess.TimeoutExpired:
            return None

    async def close(self) -> None:
        """Wait for every batch in hand, then stop the child."""
        try:
            await self.drain()
            await asyncio.wrap_future(self._sender.submit(_send, self._requests, _CLOSE))
            await asyncio.to_thread(self._wait, 30.0)
        finally:
            self.kill()

    def kill(self) -> None:
        """Stop the child now. Batches in hand stay there (for `restart()`)."""
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        for stream in (self._requests, self._replies):
            with contextlib.suppress(OSError):
                stream.close()
        self._sender.shutdown(wait=False, cancel_futures=True)
        self._receiver.shutdown(wait=False, cancel_futures=True)


Writer = InlineWriter | WriterProcess


def _is_stored(batch: Batch, stored: Mapping[tuple[str, int], int]) -> bool:
    """Whether `batch` was committed: every partition it moves is at or past its offsets
    (a batch always moves each partition it names forward; batches commit in order)."""
    return bool(batch.positions) and all(
        stored.get((p.topic, p.partition), -1) >= p.next_offset for p in batch.positions
    )


def _add(totals: BatchResult, result: BatchResult) -> None:
    totals.records += result.records
    totals.changed += result.changed
    totals.unchanged += result.unchanged
    totals.unknown += result.unknown
    totals.dead_letters += result.dead_letters
    for name, n in result.unknown_types.items():
        totals.unknown_types[name] = totals.unknown_types.get(name, 0) + n


def main(argv: Sequence[str]) -> None:
    path, roles, pragmas, parent = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s coach-writer: %(message)s")
    serve(path, json.loads(roles), json.loads(pragmas), int(parent))


if __name__ == "__main__":
    main(sys.argv[1:])
