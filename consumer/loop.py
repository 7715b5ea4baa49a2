"""The consume loop: Kafka in, batches to the writer out. Thin on purpose.

Every replica reads every partition of the three topics (manual assignment, no consumer
group, consumer/assignment.py; the erasures topic first): each keeps its own projection.
Offsets live in the projection, never in Kafka.

Each fetched batch is decoded here (consumer/batch.py `from_fetched`) and committed, in one
transaction with its offsets, by a writer process (consumer/writer.py) while the next
batches are fetched and decoded: two cores instead of one. Batches are committed in the
order fetched; when one fails (disk full), the writer stops, and it and every later batch
are sent again, in order, until they are stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from config.derived import roles
from config.kafka import consumer_options
from config.settings import Settings
from consumer.assignment import Assignment
from consumer.batch import Batch, from_fetched
from consumer.bootstrap import check_before_reading
from consumer.commit import no_batches
from consumer.faults import is_record_fault
from consumer.fold_schedule import FoldSchedule
from consumer.follow import LiveFile
from consumer.health import Health, write_heartbeat
from consumer.kafka import OutOfRetention, close_consumer, retention_message, sleep_unless
from consumer.lock import wait_for_lock
from consumer.records import KafkaRecord
from consumer.shelf_life import reread_if_outlived
from consumer.wire import WriterGone
from consumer.writers import Writer, open_writer
from events.codec import Role
from store.checkpoints import off_the_commit_path
from store.db import file_of, small_cache
from store.instants import now_us

log = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
WRITE_RETRY_SECONDS = 1.0


class Projector:
    """Keeps the projection at `conn` up to date with the two topics."""

    def __init__(
        self, settings: Settings, conn: sqlite3.Connection, *, live: LiveFile | None = None
    ) -> None:
        """`live`, when given, is the live projection's name (`COACH_DB_PATH`), which `conn`
        has open: when a replay swaps a new file in there, the projector carries on with it."""
        self.settings = settings
        self.conn = conn
        self.live = live
        self.roles: dict[str, Role] = roles(settings)
        self.totals = no_batches()
        self.health = Health()
        self.assignment = Assignment(self.roles, self.health)
        self.writer: Writer | None = None
        self._lock: int | None = None

    @classmethod
    def open(cls, settings: Settings) -> Projector:
        """A projector of the live projection at `settings.db_path` that follows swaps."""
        live, conn = LiveFile.open(Path(settings.db_path))
        return cls(settings, conn, live=live)

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; survives broker outages. Raises OutOfRetention, and
        ProjectionRefused for a file that must not be read on (consumer/bootstrap.py)."""
        backoff = BACKOFF_START_SECONDS
        self._lock = await wait_for_lock(self.settings.db_path, stop)
        if self._lock is None:
            return
        try:
            check_before_reading(self.conn, self.settings)
        except BaseException:
            os.close(self._lock)
            self._lock = None
            raise
        self._start_writer()
        try:
            while not stop.is_set():
                consumer = AIOKafkaConsumer(
                    **consumer_options(self.settings, "coach-consumer", metadata_max_age_ms=30_000)
                )
                try:
                    await consumer.start()
                    await reread_if_outlived(self.conn, self.settings, lambda: self._drain(stop))
                    await self._consume(consumer, stop)
                    backoff = BACKOFF_START_SECONDS
                except KafkaError as exc:
                    self.health.unreachable(exc)
                    write_heartbeat(self.conn, self.health, [])
                    # the outage's start, reminders and end are Health's to log
                    log.debug("broker unavailable (%s); retrying in %.1fs", exc, backoff)
                    await sleep_unless(stop, backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
                finally:
                    await close_consumer(consumer)
                    self.assignment.assigned = set()
            await self._drain(stop)  # stopping: the batches in hand are committed first
        finally:
            await self._close_writer()
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        folds = FoldSchedule(self.settings)
        assignment = self.assignment
        next_heartbeat = 0.0
        while not stop.is_set():
            now = loop.time()
            if now >= next_heartbeat:
                was_reachable = self.health.reachable
                await assignment.refresh(consumer, self.conn, lambda: self._drain(stop))
                if not was_reachable and self.health.reachable:
                    await self._reread_if_outlived(consumer, stop)  # back after an outage
                write_heartbeat(
                    self.conn,
                    self.health,
                    assignment.high_watermarks(consumer),
                    assignment.rows(consumer) if self.health.reachable else None,
                )
                next_heartbeat = now + self.settings.heartbeat_seconds
            folds.run_if_due(self.conn, now)
            if not assignment.assigned:
                await sleep_unless(stop, self.settings.heartbeat_seconds)
                continue
            try:
                fetched = await consumer.getmany(
                    timeout_ms=self.settings.poll_timeout_ms,
                    max_records=self.settings.batch_max_records,
                )
            except OffsetOutOfRangeError as exc:
                raise OutOfRetention(retention_message(exc)) from exc
            if self.live is not None and self.live.swapped():
                # A replay swapped a new projection in: what was fetched belongs to the old
                # one. Carry on with the new file, from the offsets stored in it.
                await self._reopen(self.live, stop)
                await assignment.refresh(consumer, self.conn, lambda: self._drain(stop))
                continue
            batch = await self._take(consumer, fetched)
            # A batch with positions only (past transaction markers) goes through the
            # writer too, after the batches in hand; with none, what is in hand is
            # committed and counted.
            if batch.positions:
                await self._submit(batch, stop)
            else:
                await self._drain(stop)

    async def _reread_if_outlived(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """After an outage that outlived the catalog topic's tombstones, read it again."""
        drain = lambda: self._drain(stop)  # noqa: E731
        if await reread_if_outlived(self.conn, self.settings, drain):
            self.assignment.assigned = set()  # seek every partition to what is stored now
            await self.assignment.refresh(consumer, self.conn, drain)

    async def _take(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[KafkaRecord]]
    ) -> Batch:
        """The batch of the records fetched, decoded here (while the writer commits earlier
        ones), with each partition whose position moved (consumer/positions.py: past its
        records, and past transaction markers and aborted records, with or without a
        record). Every assigned partition's position is known (consumer/assignment.py)."""
        known = self.assignment.positions
        reached = {tp: await consumer.position(tp) for tp in self.assignment.assigned}
        batch = from_fetched(
            fetched,
            self.roles,
            known=known,
            reached=reached,
            highs={tp: consumer.highwater(tp) for tp in reached},
            now_us=now_us(),
        )
        for row in batch.positions:
            known[TopicPartition(row.topic, row.partition)] = row.next_offset
        self.assignment.resume_after_erasures(consumer)
        return batch

    async def _reopen(self, live: LiveFile, stop: asyncio.Event) -> None:
        await self._drain(stop)  # into the old file: their offsets go with them
        await self._close_writer()
        old, self.conn = self.conn, live.reopen()
        old.close()
        self._start_writer()
        self.assignment.assigned = set()  # seek every partition to the new file's offsets

    # -- writing ---------------------------------------------------------------------------

    def _start_writer(self) -> None:
        """A writer of the file `conn` has open (the file itself, not the link to it)."""
        file = file_of(self.conn)
        in_child = self.settings.writer_process and bool(file)
        self.writer = open_writer(
            self.conn,
            Path(file) if in_child else None,
            self.roles,
            on_result=self.totals.add,
            keep_fds=[self._lock] if self._lock is not None else [],
        )
        if in_child:
            # Batches are written by the child (with the large cache, store/db.py); this
            # connection only records status and folds once a minute, and leaves the WAL
            # to the child's checkpoints (store/checkpoints.py), off this event loop.
            small_cache(self.conn)
            off_the_commit_path(self.conn)

    async def _close_writer(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                await writer.close()
            except Exception as exc:
                if not _write_retried(exc):
                    raise
                log.warning("batches not stored at shutdown, read again next start: %s", exc)

    async def _submit(self, batch: Batch, stop: asyncio.Event) -> bool:
        """Hand `batch` to the writer (see `_until_written`). One batch object for every
        attempt: the writer puts it in hand once, however often it is submitted."""
        return await self._until_written(stop, lambda w: w.submit(batch))

    async def _drain(self, stop: asyncio.Event) -> bool:
        """Wait until every batch handed over is committed (see `_until_written`)."""
        return await self._until_written(stop, lambda w: w.drain())

    async def _until_written(
        self, stop: asyncio.Event, action: Callable[[Writer], Awaitable[None]]
    ) -> bool:
        """Run `action`; on a storage error (or a writer that died) keep trying: nothing of
        the failed batch or later ones was stored, and they are sent again in order (by
        `restart()`, itself tried again if it fails). False when stopped before it worked:
        the batches not stored are read again at the next start."""
        failed = False
        while True:
            assert self.writer is not None
            try:
                if failed:
                    self.writer.restart()
                await action(self.writer)
                break
            except Exception as exc:
                if not _write_retried(exc):
                    raise
                # Disk full, read-only file, I/O error, a dead writer: nothing was stored and
                # no offset advanced. Say so where the api can see it, then try again.
                failed = True
                self.health.write_failed(exc)  # the text to the log, the category to /ready
                write_heartbeat(self.conn, self.health, [])
                await sleep_unless(stop, WRITE_RETRY_SECONDS)
                if stop.is_set():
                    return False
        if self.health.write_error:
            self.health.write_error = None
            log.info("projection writes work again")
        return True


def _write_retried(exc: BaseException) -> bool:
    """Whether a failure to write is retried: a writer that died, or a fault of storage or
    of the process (consumer/faults.py `is_record_fault`); a record's own faults never get
    here (they are dead letters), so what is left is a bug, which stops the consumer."""
    return isinstance(exc, WriterGone) or (isinstance(exc, Exception) and not is_record_fault(exc))
