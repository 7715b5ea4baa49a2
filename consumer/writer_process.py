"""Committing batches in a child process (consumer/writer.py says why), from the parent's
side: handing batches over in order, taking their results in order, and starting a new
child after a failure with every batch not yet stored.

A storage error in the child (or any fault that is not a record's own) is raised here as
`sqlite3.OperationalError`, a child that died as `WriterGone`, anything else as
`WriterError` (consumer/wire.py). Should a completed workout's row fail to insert (its own
fault: it becomes a dead letter), the child needs the record's raw bytes, which it was not
sent: it replies so, and this process sends that batch again, every record held, to a new
child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import subprocess
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO

from consumer.batch import Batch, is_stored
from consumer.commit import BatchResult, OnResult, no_batches, settle
from consumer.wire import (
    CLOSE,
    RecordNotHeld,
    WriterGone,
    encode_batch,
    parse_reply,
    receive,
    send,
)
from events.codec import Role
from store import reads

log = logging.getLogger(__name__)

CHILD_MODULE = "consumer.writer"
"""The child's module, run as `python -m` (its `main`)."""

DEPTH = 3
"""Batches handed over and not yet known to be committed: one being written, the others
waiting in the pipe (slack, since batches differ in size and cost)."""


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
        self.totals = no_batches()
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
                CHILD_MODULE,
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

    async def drain(self) -> None:
        while self._in_hand:
            await self._settle_oldest()

    def _send(self, batch: Batch) -> None:
        payload = encode_batch(batch, full=batch.full)
        self._sender.submit(send, self._requests, payload)
        batch.reply = self._receiver.submit(receive, self._replies)

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
                result = parse_reply(reply)  # raises for a failed batch, which stays in hand
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
        settle(batch, self.totals, self.on_result, result)

    def restart(self) -> None:
        """A new child, sent every batch in hand again (after a failure).

        A child that died may have committed a batch without getting to reply: the stored
        offsets tell. Such batches are counted (records only) and not sent again, since
        applying one twice would count its unknown events twice. If this raises (the stored
        offsets cannot be read, no child can be started), the batches stay in hand and
        calling it again is safe."""
        self.kill()
        stored = reads.positions_at(self.path)
        while self._in_hand and is_stored(self._in_hand[0], stored):
            batch = self._in_hand.popleft()
            settle(batch, self.totals, self.on_result, BatchResult(records=len(batch.records)))
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
            await asyncio.wrap_future(self._sender.submit(send, self._requests, CLOSE))
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
