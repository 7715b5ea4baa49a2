"""The writer interface: what the consumer and the replay hand their batches to.

One way in: `submit(batch)`, safe to call again with the same batch after it raised (a
batch is put in hand once). `drain()` waits for every batch in hand; `restart()` sends the
batches not stored again after a failure; `close()` drains and stops; `kill()` gives up.
Two writers: consumer/writer_process.py (a child process commits; the default) and
consumer/inline_writer.py (the caller's thread); `open_writer` picks one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from consumer.batch import Batch
from consumer.commit import BatchResult, OnResult
from consumer.inline_writer import InlineWriter
from consumer.writer_process import WriterProcess
from events.codec import Role


class Writer(Protocol):
    totals: BatchResult

    async def submit(self, batch: Batch) -> None: ...
    async def drain(self) -> None: ...
    def restart(self) -> None: ...
    async def close(self) -> None: ...
    def kill(self) -> None: ...


def open_writer(
    conn: sqlite3.Connection,
    file: Path | None,
    roles: Mapping[str, Role],
    *,
    pragmas: Sequence[str] = (),
    on_result: OnResult | None = None,
    keep_fds: Sequence[int] = (),
) -> Writer:
    """A writer process committing to `file` (`conn`'s file) if given, else one committing
    on `conn` on this thread."""
    if file is None:
        return InlineWriter(conn, roles, on_result=on_result)
    return WriterProcess(file, roles, pragmas, on_result=on_result, keep_fds=keep_fds)
