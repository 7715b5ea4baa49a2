"""The consume loop: Kafka in, batches to the writer out. Thin on purpose.

Every replica reads every partition of both topics (manual assignment, no consumer group):
each keeps its own projection. Offsets live in the projection, never in Kafka.

Each fetched batch is decoded here (consumer/batch.py `from_fetched`) and committed, in one
transaction with its offsets, by a writer process (consumer/writer.py) while the next
batches are fetched and decoded: two cores instead of one. Batches are committed in the
order fetched; when one fails (disk full), the writer stops, and it and every later batch
are sent again, in order, until they are stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError, OffsetOutOfRangeError

from config.derived import history_cutoff_us, roles
from config.kafka import consumer_options
from config.settings import Settings
from consumer import topic_ids
from consumer.batch import Batch, from_fetched
from consumer.commit import no_batches
from consumer.faults import is_record_fault
from consumer.positions import beyond_end
from consumer.records import KafkaRecord
from consumer.wire import WriterGone
from consumer.writers import Writer, open_writer
from events.codec import Role
from store import files, fold, reads, writes
from store.db import connect, file_of, small_cache, transaction
from store.instants import now_us

log = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
PRUNE_EVERY_SECONDS = 60.0
METADATA_TIMEOUT_SECONDS = 5.0
WRITE_RETRY_SECONDS = 1.0
LOCK_RETRY_SECONDS = 0.2


class OutOfRetention(Exception):
    """A stored offset is no longer in its topic: the projection must be rebuilt."""


class TopicRecreated(OutOfRetention):
    """A topic was deleted and created again: its offsets started again, and those stored
    belong to the old topic. The projection must be rebuilt."""


class _Abandoned(Exception):
    """A batch that could not be written before shutdown; it is read again next start."""


@dataclass
class Health:
    """What the consumer knows is wrong, written with each heartbeat for the api."""

    broker_error: str | None = None
    missing_topics: list[str] = field(default_factory=list)
    write_error: str | None = None

    @property
    def reachable(self) -> bool:
        return self.broker_error is None

    def summary(self) -> str | None:
        parts = [
            self.broker_error,
            *(f"topic {t} does not exist yet" for t in self.missing_topics),
            self.write_error,
        ]
        return "; ".join(p for p in parts if p) or None


class Projector:
    """Keeps the projection at `conn` up to date with the two topics."""

    def __init__(
        self, settings: Settings, conn: sqlite3.Connection, *, path: Path | None = None
    ) -> None:
        """`path`, when given, is the live projection's name (`COACH_DB_PATH`), which `conn`
        has open: when a replay swaps a new file in there, the projector carries on with it."""
        self.settings = settings
        self.conn = conn
        self.path = path
        self.identity: tuple[int, int] | None = None
        self.roles: dict[str, Role] = roles(settings)
        self.totals = no_batches()
        self.health = Health()
        self._assigned: set[TopicPartition] = set()
        # Per assigned partition: the next offset handed to the writer (or where reading
        # started), where reading started, and its end offset when it was assigned.
        self._positions: dict[TopicPartition, int] = {}
        self._starts: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] = {}
        self._without_topic_ids = False
        self.writer: Writer | None = None
        self._lock: int | None = None
        self._waiting_logged = False

    @classmethod
    def open(cls, settings: Settings) -> Projector:
        """A projector of the live projection at `settings.db_path` that follows swaps."""
        path = Path(settings.db_path)
        conn, identity = files.open_live(path, connect)
        projector = cls(settings, conn, path=path)
        projector.identity = identity
        return projector

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; survives broker outages. Raises OutOfRetention."""
        backoff = BACKOFF_START_SECONDS
        if not await self._lock_projection(stop):
            return
        self._start_writer()
        try:
            while not stop.is_set():
                consumer = self._new_consumer()
                try:
                    await consumer.start()
                    await self._consume(consumer, stop)
                    backoff = BACKOFF_START_SECONDS
                except KafkaError as exc:
                    self.health.broker_error = f"broker unreachable: {exc!r}"
                    self._write_heartbeat([])
                    log.warning("broker unavailable (%s); retrying in %.1fs", exc, backoff)
                    await _sleep_unless(stop, backoff)
                    backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
                finally:
                    await close_consumer(consumer)
                    self._assigned = set()
            # Stopping: the batches in hand are committed before we exit.
            with contextlib.suppress(_Abandoned):
                await self._drain(stop)
        finally:
            await self._close_writer()
            if self._lock is not None:
                os.close(self._lock)
                self._lock = None

    async def _lock_projection(self, stop: asyncio.Event) -> bool:
        """Wait until this is the only consumer writing the projection (a previous one's
        writer process may still be exiting); False if stopped meanwhile."""
        path = self.settings.db_path
        while (lock := files.writer_lock(path)) is None:
            if not self._waiting_logged:
                log.warning(
                    "another consumer (or its writer process) is writing %s; waiting for it",
                    path,
                )
                self._waiting_logged = True
            await _sleep_unless(stop, LOCK_RETRY_SECONDS)
            if stop.is_set():
                return False
        self._lock = lock
        return True

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **consumer_options(self.settings, "coach-consumer", metadata_max_age_ms=30_000)
        )

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        next_heartbeat = next_prune = 0.0
        while not stop.is_set():
            now = loop.time()
            if now >= next_heartbeat:
                await self._refresh_assignment(consumer, stop)
                self._write_heartbeat(
                    self._high_watermarks(consumer),
                    self._assignment(consumer) if self.health.reachable else None,
                )
                next_heartbeat = now + self.settings.heartbeat_seconds
            if now >= next_prune:
                self._prune()
                next_prune = now + PRUNE_EVERY_SECONDS
            if not self._assigned:
                await _sleep_unless(stop, self.settings.heartbeat_seconds)
                continue
            try:
                fetched = await consumer.getmany(
                    timeout_ms=self.settings.poll_timeout_ms,
                    max_records=self.settings.batch_max_records,
                )
            except OffsetOutOfRangeError as exc:
                raise OutOfRetention(_retention_message(exc)) from exc
            if self._swapped():
                # A replay swapped a new projection in: what was fetched belongs to the old
                # one. Carry on with the new file, from the offsets stored in it.
                await self._reopen(stop)
                await self._refresh_assignment(consumer, stop)
                continue
            batch = await self._take(consumer, fetched)
            with contextlib.suppress(_Abandoned):
                # A batch with positions only (past transaction markers) goes through the
                # writer too, after the batches in hand.
                if batch.positions:
                    await self._submit(batch, stop)
                else:  # nothing new: let what is in hand be committed and counted
                    await self._drain(stop)

    async def _take(
        self, consumer: AIOKafkaConsumer, fetched: dict[TopicPartition, list[KafkaRecord]]
    ) -> Batch:
        """The batch of the records fetched, decoded here (while the writer commits earlier
        ones), with each partition whose position moved (consumer/positions.py: past its
        records, and past transaction markers and aborted records, with or without a
        record). Every assigned partition's position is known (`_refresh_assignment`)."""
        reached = {tp: await consumer.position(tp) for tp in self._assigned}
        batch = from_fetched(
            fetched,
            self.roles,
            known=self._positions,
            reached=reached,
            highs={tp: consumer.highwater(tp) for tp in reached},
            now_us=now_us(),
        )
        for row in batch.positions:
            self._positions[TopicPartition(row.topic, row.partition)] = row.next_offset
        return batch

    # -- the projection file ---------------------------------------------------------------

    def _swapped(self) -> bool:
        if self.path is None:
            return False
        now = files.identity(self.path)
        return now is not None and now != self.identity

    async def _reopen(self, stop: asyncio.Event) -> None:
        assert self.path is not None
        with contextlib.suppress(_Abandoned):
            await self._drain(stop)  # into the old file: their offsets go with them
        await self._close_writer()
        old = self.conn
        self.conn, self.identity = files.open_live(self.path, connect)
        old.close()
        self._start_writer()
        self._assigned = set()  # seek every partition to the new file's stored offsets
        log.info(
            "projection %s was swapped by a replay; continuing with %s from its offsets",
            self.path,
            files.live_file(self.path),
        )

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
            # connection only records status and folds once a minute.
            small_cache(self.conn)

    async def _close_writer(self) -> None:
        if self.writer is not None:
            writer, self.writer = self.writer, None
            try:
                await writer.close()
            except Exception as exc:
                if not _write_retried(exc):
                    raise
                log.warning("batches not stored at shutdown, read again next start: %s", exc)

    async def _submit(self, batch: Batch, stop: asyncio.Event) -> None:
        """Hand `batch` to the writer. One batch object for every attempt: the writer puts
        it in hand once, however often a failure makes us submit it again."""
        await self._until_written(stop, lambda w: w.submit(batch))

    async def _drain(self, stop: asyncio.Event) -> None:
        """Wait until every batch handed over is committed."""
        await self._until_written(stop, lambda w: w.drain())

    async def _until_written(
        self, stop: asyncio.Event, action: Callable[[Writer], Awaitable[None]]
    ) -> None:
        """Run `action`; on a storage error (or a writer that died) keep trying: nothing of
        the failed batch or later ones was stored, and they are sent again in order (by
        `restart()`, itself tried again if it fails). `action` must be safe to run again:
        the writer puts a batch in hand once, however often it is submitted."""
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
                self.health.write_error = f"projection write failed: {exc}"
                log.error("%s; retrying", self.health.write_error)
                self._write_heartbeat([])
                await _sleep_unless(stop, WRITE_RETRY_SECONDS)
                if stop.is_set():
                    raise _Abandoned from exc
        if self.health.write_error:
            self.health.write_error = None
            log.info("projection writes work again")

    def _write_heartbeat(
        self,
        highs: list[tuple[int, str, int]],
        assigned: list[tuple[str, int, int, int | None]] | None = None,
    ) -> None:
        """Record the heartbeat, the high watermarks of partitions read, and (unless None)
        every partition assigned."""
        try:
            with transaction(self.conn):
                now = now_us()
                writes.heartbeat(
                    self.conn,
                    now_us=now,
                    broker_reachable=self.health.reachable,
                    last_error=self.health.summary(),
                )
                writes.save_high_watermarks(self.conn, rows=highs)
                if assigned is not None:
                    writes.save_assigned(self.conn, rows=assigned, now_us=now)
        except sqlite3.DatabaseError as exc:  # the storage's fault, as in _until_written
            log.error("could not record the heartbeat: %s", exc)

    def _prune(self) -> None:
        """Fold workouts older than the window into the performances, in chunks."""
        before = history_cutoff_us(self.settings, now_us())
        try:
            removed = fold.fold_all(self.conn, before_us=before)
        except sqlite3.OperationalError as exc:
            log.error("could not prune: %s", exc)
            return
        if removed:
            log.info("folded %d workouts older than %d h", removed, self.settings.history_hours)

    # -- assignment -------------------------------------------------------------------------

    async def _refresh_assignment(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        """Assign every partition of both topics, picking up partitions added while running;
        raise TopicRecreated when a topic is not the one the projection was read from.

        This metadata request doubles as the broker reachability check.
        """
        try:
            cluster = await asyncio.wait_for(
                consumer._client.fetch_all_metadata(),  # the public API has no such call
                METADATA_TIMEOUT_SECONDS,
            )
        except (KafkaError, TimeoutError) as exc:
            self._unreachable(exc)
            return
        try:
            await self._check_topic_ids(consumer)
        except (KafkaError, TimeoutError) as exc:
            self._unreachable(exc)
            return
        if not self.health.reachable:
            log.info("broker reachable again")
        self.health.broker_error = None
        wanted = {
            TopicPartition(topic, p)
            for topic in self.roles
            for p in cluster.partitions_for_topic(topic) or ()
        }
        self.health.missing_topics = [t for t in self.roles if not cluster.partitions_for_topic(t)]
        if wanted == self._assigned:
            return
        with contextlib.suppress(_Abandoned):
            await self._drain(stop)
        stored = reads.positions(self.conn)
        # assign() resets every partition's position: seek them all to what is stored
        # (every batch fetched so far has been applied, so that is where reading stopped).
        consumer.assign(sorted(wanted))
        from_start = []
        for tp in wanted:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                from_start.append(tp)
            else:
                consumer.seek(tp, offset)
        if from_start:
            await consumer.seek_to_beginning(*from_start)
        try:
            # Where each partition's reading starts (asks the broker for the beginnings),
            # and where each ends.
            self._positions = await asyncio.wait_for(
                _positions(consumer, wanted), METADATA_TIMEOUT_SECONDS
            )
            ends = await asyncio.wait_for(
                consumer.end_offsets(sorted(wanted)), METADATA_TIMEOUT_SECONDS
            )
        except (KafkaError, TimeoutError) as exc:
            self._unreachable(exc)
            self._assigned = set()  # assign again at the next heartbeat
            return
        self._starts = dict(self._positions)
        self._ends = dict(ends)
        beyond = beyond_end(
            {(tp.topic, tp.partition): n for tp, n in self._positions.items()},
            {(tp.topic, tp.partition): n for tp, n in ends.items()},
        )
        if beyond:
            raise TopicRecreated(_beyond_message(beyond))
        log.info(
            "assigned %d partitions (%d new, %d read from the beginning)",
            len(wanted),
            len(wanted - self._assigned),
            len(from_start),
        )
        self._assigned = wanted

    def _unreachable(self, exc: BaseException) -> None:
        if self.health.reachable:
            log.warning("broker unreachable (%r); the projection is going stale", exc)
        self.health.broker_error = f"broker unreachable: {exc!r}"

    async def _check_topic_ids(self, consumer: AIOKafkaConsumer) -> None:
        """Raise TopicRecreated when a topic's id is not the one stored; store the ids of
        topics seen for the first time (consumer/topic_ids.py)."""
        if self._without_topic_ids:
            return
        try:
            current = await asyncio.wait_for(
                topic_ids.fetch(consumer._client, self.roles), METADATA_TIMEOUT_SECONDS
            )
        except (NotImplementedError, IncompatibleBrokerVersion) as exc:
            log.warning(
                "the broker has no topic ids (Metadata v12, Kafka 2.8+: %s); a topic deleted "
                "and created again is noticed only while it holds fewer records than read",
                exc,
            )
            self._without_topic_ids = True
            return
        stored = reads.topic_ids(self.conn)
        changed = topic_ids.recreated(stored, current)
        if changed:
            raise TopicRecreated(_recreated_message(changed))
        new = [(t, i) for t, i in current.items() if t not in stored]
        if new:
            with transaction(self.conn):
                writes.save_topic_ids(self.conn, ids=new, now_us=now_us())

    def _high(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
        """The partition's high watermark: the last fetched, else its end when assigned."""
        high = consumer.highwater(tp)
        return self._ends.get(tp) if high is None else high

    def _high_watermarks(self, consumer: AIOKafkaConsumer) -> list[tuple[int, str, int]]:
        highs = []
        for tp in self._assigned:
            high = self._high(consumer, tp)
            if high is not None:
                highs.append((high, tp.topic, tp.partition))
        return highs

    def _assignment(self, consumer: AIOKafkaConsumer) -> list[tuple[str, int, int, int | None]]:
        """Every assigned partition: topic, partition, start offset, high watermark."""
        return [
            (tp.topic, tp.partition, self._starts[tp], self._high(consumer, tp))
            for tp in sorted(self._assigned)
        ]


async def _positions(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each partition's position (waits for those sought to the beginning to be resolved)."""
    return {tp: await consumer.position(tp) for tp in partitions}


def _write_retried(exc: BaseException) -> bool:
    """Whether a failure to write is retried: a writer that died, or a fault of storage or
    of the process (consumer/faults.py `is_record_fault`); a record's own faults never get
    here (they are dead letters), so what is left is a bug, which stops the consumer."""
    return isinstance(exc, WriterGone) or (isinstance(exc, Exception) and not is_record_fault(exc))


def _retention_message(exc: OffsetOutOfRangeError) -> str:
    where: Iterable[str] = (f"{tp.topic}/{tp.partition}@{off}" for tp, off in exc.args[0].items())
    return (
        "stored offset(s) " + ", ".join(where) + " are no longer in the topic (removed by "
        "retention, or the topic was recreated). The projection cannot be continued: "
        "rebuild it from the topics with `coach replay`."
    )


def _replay_hint() -> str:
    return "The projection cannot be continued: rebuild it from the topics with `coach replay`."


def _beyond_message(beyond: dict[tuple[str, int], tuple[int, int]]) -> str:
    where = ", ".join(
        f"{t}/{p}@{off} (the partition ends at {end})" for (t, p), (off, end) in beyond.items()
    )
    return (
        f"stored offset(s) {where} are past the end of their partition: the topic was "
        "deleted and created again. " + _replay_hint()
    )


def _recreated_message(topics: list[str]) -> str:
    return (
        f"topic(s) {', '.join(topics)} were deleted and created again (their topic id is not "
        "the one the projection was read from): the stored offsets belong to the old "
        "topic. " + _replay_hint()
    )


async def close_consumer(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        # aiokafka's stop() can re-raise the cancellation of one of its own tasks when it
        # is stopped right after start(); only a cancellation of ours must propagate.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("ignored a CancelledError from aiokafka's own shutdown")
    except KafkaError as exc:
        log.warning("error while closing the Kafka consumer: %s", exc)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
