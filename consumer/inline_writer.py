"""Committing batches on the caller's thread (`COACH_WRITER_PROCESS=false`, and databases
that are not files)."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping

from consumer.batch import Batch, is_stored
from consumer.commit import BatchResult, OnResult, commit, no_batches, settle
from events.codec import Role
from store import reads
from store.db import rollback_open


class InlineWriter:
    """A `Writer` committing on the caller's thread (`COACH_WRITER_PROCESS=false`,
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
        self.totals = no_batches()

    async def submit(self, batch: Batch) -> None:
        """Commit `batch`. Safe to call again after it raised: a transaction its failed
        COMMIT left open is rolled back, and a batch whose offsets are stored is counted
        (records only), not applied again."""
        if batch.committed:
            return
        if batch.accepted:  # a previous attempt raised
            rollback_open(self.conn)
            if is_stored(batch, reads.positions(self.conn)):
                settle(batch, self.totals, self.on_result, BatchResult(records=len(batch.records)))
                return
        batch.accepted = True
        result = commit(self.conn, batch)
        settle(batch, self.totals, self.on_result, result)

    async def drain(self) -> None:
        pass

    def restart(self) -> None:
        pass

    async def close(self) -> None:
        pass

    def kill(self) -> None:
        pass
