"""The writer process: the child that commits the batches of a consumer or a replay.

Started as `python -m consumer.writer PATH ROLES PRAGMAS PARENT_PID` by
consumer/writer_process.py. Why a process: committing a batch costs about as much in Python
(decoding records, building rows) as in SQLite (inserting them into the user index). Done
one after the other on one core, the replay took 3.3 times as long as a bare read of the
same records. So the parent decodes (consumer/batch.py `prepare`) and this child commits
(consumer/commit.py `commit`, the same as the in-process path) with its own connection to
the same file: while it writes batch N, the parent fetches and decodes batch N+1. (A
writer thread was tried first and was slower: decoding holds the GIL, and the broker
client needs the second core.)

One transaction per batch, offsets included, so what is on disk is always whole batches in
order. Replies go back in order (consumer/wire.py). At the first failure the child replies
so and stops: batches already in the pipe must not be committed before that one.

The child dies with its parent (Linux `PR_SET_PDEATHSIG`), so a SIGKILL never leaves a
writer behind that could commit after its parent is gone.
"""

from __future__ import annotations

import ctypes
import gc
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import Callable, Sequence

from consumer.commit import commit
from consumer.wire import (
    CLOSE,
    RecordNotHeld,
    decode_batch,
    failure_reply,
    receive,
    result_reply,
    send,
)
from events.codec import Role
from store.checkpoints import Checkpoints, off_the_commit_path
from store.db import connect, set_pragmas

log = logging.getLogger(__name__)


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
    # The WAL is copied into the file by a thread beside the commits, not in one of them
    # (store/checkpoints.py): a commit that checkpoints 40 MB holds every record behind it.
    off_the_commit_path(conn)
    checkpoints = Checkpoints(path).start()
    fault = _fault_hook(os.environ.get(FAULT_ENV, ""))
    received = 0
    try:
        while True:
            try:
                payload = receive(requests)
            except EOFError:
                return
            if payload == CLOSE:
                return
            received += 1
            fault("before-commit", received)
            try:
                reply = result_reply(commit(conn, decode_batch(payload, roles)))
            except Exception as exc:
                # Stop at the first failure: batches already in the pipe must not be
                # committed before this one. The parent sends them all again to a new writer.
                if not isinstance(exc, RecordNotHeld | sqlite3.OperationalError):
                    log.exception("the writer process could not commit a batch")
                send(replies, failure_reply(exc))
                return
            fault("after-commit", received)
            send(replies, reply)
            gc.collect(0)
    finally:
        checkpoints.stop()
        conn.close()


def main(argv: Sequence[str]) -> None:
    path, roles, pragmas, parent = argv
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s coach-writer: %(message)s")
    serve(path, json.loads(roles), json.loads(pragmas), int(parent))


if __name__ == "__main__":
    main(sys.argv[1:])
