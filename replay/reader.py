"""Reading the topics from their earliest retained offsets up to given offsets, the
erasures topic first (replay/plan.py `erasures_first`), handing
each batch to a writer (consumer/writers.py: the same batches, consumer/batch.py
`from_fetched`, and the same commit the live consumer uses), which commits it while the
next batch is read."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import OffsetOutOfRangeError

from config.derived import roles
from config.kafka import consumer_options
from config.settings import Settings
from consumer.batch import from_fetched
from consumer.kafka import close_consumer, topic_metadata
from consumer.writers import Writer
from events.codec import Role
from replay.plan import Partition, by_topic, caught_up, clip, erasures_first
from replay.progress import Progress
from store.instants import now_us

METADATA_TIMEOUT_SECONDS = 10.0


class ReplayError(Exception):
    """The replay cannot go on; the message says why and what to do."""


@dataclass
class Counts:
    records: int = 0
    first_timestamp_ms: dict[Partition, int] = field(default_factory=dict)


class TopicReader:
    """One aiokafka consumer with every partition of the three topics assigned."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.roles: dict[str, Role] = roles(settings)
        self.consumer = AIOKafkaConsumer(
            **consumer_options(settings, "coach-replay", fetch_max_bytes=64 * 1024 * 1024)
        )
        self.partitions: list[TopicPartition] = []
        self.position: dict[Partition, int] = {}
        self.counts = Counts()

    async def start(self) -> None:
        await self.consumer.start()
        cluster, unavailable = await asyncio.wait_for(
            topic_metadata(self.consumer._client, self.roles), METADATA_TIMEOUT_SECONDS
        )
        if unavailable:
            raise ReplayError(
                "topic(s) unavailable on the broker, try again: "
                + ", ".join(f"{t} ({kind})" for t, kind in sorted(unavailable.items()))
            )
        missing = [t for t in self.roles if not cluster.partitions_for_topic(t)]
        if missing:
            raise ReplayError(f"topic(s) {', '.join(missing)} do not exist on the broker")
        self.partitions = sorted(
            TopicPartition(t, p) for t in self.roles for p in cluster.partitions_for_topic(t)
        )
        self.consumer.assign(self.partitions)
        await self.consumer.seek_to_beginning(*self.partitions)
        for tp, offset in (await self.consumer.beginning_offsets(self.partitions)).items():
            self.position[(tp.topic, tp.partition)] = offset

    async def stop(self) -> None:
        await close_consumer(self.consumer)

    async def beginnings(self) -> dict[Partition, int]:
        found = await self.consumer.beginning_offsets(self.partitions)
        return {(tp.topic, tp.partition): off for tp, off in found.items()}

    async def ends(self) -> dict[Partition, int]:
        found = await self.consumer.end_offsets(self.partitions)
        return {(tp.topic, tp.partition): off for tp, off in found.items()}

    async def read_to(
        self,
        writer: Writer,
        targets: Mapping[Partition, int],
        progress: Progress,
    ) -> None:
        """Hand every record before `targets` (never one at or past them) to `writer`.

        Returns when the last batch is handed over; `writer.drain()` waits for its commit."""
        consumer = self.consumer
        while not caught_up(self.position, targets):
            pending = [
                tp
                for tp in self.partitions
                if self.position[(tp.topic, tp.partition)]
                < targets.get((tp.topic, tp.partition), 0)
            ]
            try:
                fetched = await consumer.getmany(
                    *pending, timeout_ms=200, max_records=self.settings.batch_max_records
                )
            except OffsetOutOfRangeError as exc:
                raise ReplayError(
                    f"records were removed by retention while the replay read them ({exc}); "
                    "run the replay again"
                ) from exc
            kept_of: dict[Partition, list[Any]] = {}
            reached: dict[Partition, int] = {}
            for tp in pending:
                key = (tp.topic, tp.partition)
                target = targets[key]
                messages = fetched.get(tp, [])
                kept = clip(messages, target)
                if len(kept) < len(messages):
                    consumer.seek(tp, target)  # the rest is read when the target moves on
                if kept:
                    kept_of[key] = kept
                    self.counts.first_timestamp_ms.setdefault(key, kept[0].timestamp)
                # Past the target without a record (compacted away, transaction markers):
                # the position says where reading stands.
                reached[key] = min(await consumer.position(tp), target)
            batch = from_fetched(
                kept_of,
                self.roles,
                known=self.position,
                reached=reached,
                highs={(tp.topic, tp.partition): consumer.highwater(tp) for tp in pending},
                now_us=now_us(),
            )
            if not batch.positions:
                continue
            for row in batch.positions:
                self.position[(row.topic, row.partition)] = row.next_offset
            await writer.submit(batch)
            self.counts.records += len(batch.records)
            by_topic: dict[str, int] = {}
            for record in batch.records:
                by_topic[record.topic] = by_topic.get(record.topic, 0) + 1
            for topic, n in by_topic.items():
                progress.advance(topic, n)


async def read_and_commit(
    reader: TopicReader,
    writer: Writer,
    targets: dict[Partition, int],
    progress: Progress,
    phase: str,
) -> None:
    """Read to `targets`, the erasures first; return when all of it is committed."""
    todo = {p: max(0, t - reader.position.get(p, 0)) for p, t in targets.items()}
    progress.phase(phase, by_topic(todo))
    first = erasures_first(targets, reader.roles)
    if first:  # the writer commits in order: every erasure before any later record
        await reader.read_to(writer, first, progress)
    await reader.read_to(writer, targets, progress)
    await writer.drain()
