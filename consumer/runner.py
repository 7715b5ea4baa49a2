"""The consume loop: Kafka in, `apply_batch` out. Thin on purpose.

Every replica reads every partition of both topics (manual assignment, no consumer group):
each keeps its own projection. Offsets live in the projection, never in Kafka.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from coach.settings import Settings
from consumer.apply import BatchResult, Record, apply_batch
from consumer.handlers import Context
from consumer.kafka import client_options
from events.codec import Role
from store import reads, writes
from store.db import transaction
from store.instants import now_us

log = logging.getLogger(__name__)

BACKOFF_START_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 15.0
PRUNE_EVERY_SECONDS = 60.0
METADATA_TIMEOUT_SECONDS = 5.0


class OutOfRetention(Exception):
    """A stored offset is no longer in its topic: the projection must be rebuilt."""


@dataclass
class Totals:
    batches: int = 0
    records: int = 0
    dead_letters: int = 0
    unknown: int = 0
    by_partition: dict[tuple[str, int], int] = field(default_factory=dict)

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.records += result.records
        self.dead_letters += result.dead_letters
        self.unknown += result.unknown


class Projector:
    """Keeps the projection at `conn` up to date with the two topics."""

    def __init__(self, settings: Settings, conn: sqlite3.Connection) -> None:
        self.settings = settings
        self.conn = conn
        self.roles: dict[str, Role] = {
            settings.topic_exercises: "exercises",
            settings.topic_workouts: "workouts",
        }
        self.totals = Totals()
        self._assigned: set[TopicPartition] = set()
        self._last_error: str | None = None
        self._reachable = False

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until `stop` is set; survives broker outages. Raises OutOfRetention."""
        backoff = BACKOFF_START_SECONDS
        while not stop.is_set():
            consumer = self._new_consumer()
            try:
                await consumer.start()
                await self._consume(consumer, stop)
                backoff = BACKOFF_START_SECONDS
            except OutOfRetention:
                raise
            except KafkaError as exc:
                self._note_unreachable(exc)
                log.warning("broker unavailable (%s); retrying in %.1fs", exc, backoff)
                await _sleep_unless(stop, backoff)
                backoff = min(backoff * 2, BACKOFF_MAX_SECONDS)
            finally:
                await consumer.stop()
                self._assigned = set()

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            **client_options(self.settings),
            client_id="coach-consumer",
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="none",
            isolation_level="read_committed",
            max_partition_fetch_bytes=4 * 1024 * 1024,
            metadata_max_age_ms=30_000,
        )

    async def _consume(self, consumer: AIOKafkaConsumer, stop: asyncio.Event) -> None:
        next_heartbeat = 0.0
        next_prune = 0.0
        loop = asyncio.get_running_loop()
        while not stop.is_set():
            now = loop.time()
            if now >= next_heartbeat:
                await self._refresh_assignment(consumer)
                self._heartbeat(consumer)
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
            if fetched:
                await self._apply(consumer, fetched, stop)

    async def _apply(
        self,
        consumer: AIOKafkaConsumer,
        fetched: dict[TopicPartition, list],  # type: ignore[type-arg]
        stop: asyncio.Event,
    ) -> None:
        records = [
            Record(m.topic, m.partition, m.offset, m.key, m.value, m.timestamp)
            for messages in fetched.values()
            for m in messages
        ]
        high = {(tp.topic, tp.partition): consumer.highwater(tp) for tp in fetched}
        current = now_us()
        ctx = Context(now_us=current, keep_from_us=self._keep_from(current))
        while True:
            try:
                result = apply_batch(
                    self.conn, records, roles=self.roles, ctx=ctx, high_watermarks=high
                )
                break
            except sqlite3.OperationalError as exc:
                # Disk full, read-only file, I/O error: nothing was stored, offsets did not
                # advance. Say so where the api can see it, then try the same batch again
                # (or, when stopping, leave it to be read again on the next start).
                self._last_error = f"projection write failed: {exc}"
                log.error("%s; retrying the batch", self._last_error)
                self._safe_heartbeat()
                await _sleep_unless(stop, 1.0)
                if stop.is_set():
                    return
        self._last_error = None
        self.totals.add(result)

    def _keep_from(self, current_us: int) -> int:
        return current_us - self.settings.history_hours * 3_600_000_000

    # -- assignment -------------------------------------------------------------------------

    async def _refresh_assignment(self, consumer: AIOKafkaConsumer) -> None:
        """Assign every partition of both topics, picking up partitions added while running.

        This metadata request doubles as the broker reachability check.
        """
        try:
            cluster = await asyncio.wait_for(
                consumer._client.fetch_all_metadata(),
                METADATA_TIMEOUT_SECONDS,
            )
        except (KafkaError, TimeoutError) as exc:
            self._note_unreachable(exc)
            return
        self._reachable = True
        wanted: set[TopicPartition] = set()
        for topic in self.roles:
            partitions = cluster.partitions_for_topic(topic)
            if not partitions:
                if self._last_error is None or "does not exist" in (self._last_error or ""):
                    self._last_error = f"topic {topic} does not exist yet"
                continue
            wanted.update(TopicPartition(topic, p) for p in partitions)
        if (
            self._last_error
            and "does not exist" in self._last_error
            and all(cluster.partitions_for_topic(t) for t in self.roles)
        ):
            self._last_error = None
        if wanted == self._assigned:
            return
        added = wanted - self._assigned
        consumer.assign(sorted(wanted))
        stored = reads.positions(self.conn)
        from_start = []
        for tp in added:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                from_start.append(tp)
            else:
                consumer.seek(tp, offset)
        for tp in wanted - added:
            consumer.seek(tp, stored.get((tp.topic, tp.partition), 0))
        if from_start:
            await consumer.seek_to_beginning(*from_start)
        log.info(
            "assigned %d partitions (%d new, %d from the beginning)",
            len(wanted),
            len(added),
            len(from_start),
        )
        self._assigned = wanted

    # -- status -----------------------------------------------------------------------------

    def _note_unreachable(self, exc: BaseException) -> None:
        self._reachable = False
        self._last_error = f"broker unreachable: {exc!r}"
        self._safe_heartbeat()

    def _heartbeat(self, consumer: AIOKafkaConsumer) -> None:
        highs = []
        for tp in self._assigned:
            high = consumer.highwater(tp)
            if high is not None:
                highs.append((high, tp.topic, tp.partition))
        try:
            with transaction(self.conn):
                writes.heartbeat(
                    self.conn,
                    now_us=now_us(),
                    broker_reachable=self._reachable,
                    last_error=self._last_error,
                )
                writes.save_high_watermarks(self.conn, rows=highs)
        except sqlite3.OperationalError as exc:
            log.error("could not record the heartbeat: %s", exc)

    def _safe_heartbeat(self) -> None:
        try:
            with transaction(self.conn):
                writes.heartbeat(
                    self.conn,
                    now_us=now_us(),
                    broker_reachable=self._reachable,
                    last_error=self._last_error,
                )
        except sqlite3.OperationalError as exc:
            log.error("could not record the heartbeat: %s", exc)

    def _prune(self) -> None:
        try:
            with transaction(self.conn):
                removed = writes.prune(self.conn, before_us=self._keep_from(now_us()))
            if removed:
                log.info("pruned %d rows older than %d h", removed, self.settings.history_hours)
        except sqlite3.OperationalError as exc:
            log.error("could not prune: %s", exc)


def _retention_message(exc: OffsetOutOfRangeError) -> str:
    where: Iterable[str] = (f"{tp.topic}/{tp.partition}@{off}" for tp, off in exc.args[0].items())
    return (
        "stored offset(s) " + ", ".join(where) + " are no longer in the topic (removed by "
        "retention, or the topic was recreated). The projection cannot be continued: "
        "rebuild it from the topics with `coach replay`."
    )


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
