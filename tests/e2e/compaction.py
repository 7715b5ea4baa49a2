"""Helpers of the tests where the log cleaner must really run: a compacted topic set to roll
its segments and clean them within seconds, and the topic read as it is now."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.partitioner import DefaultPartitioner

from tests.e2e.helpers import wait_for


def fast_compaction(delete_retention_ms: int) -> dict[str, str]:
    """Topic configs under which the cleaner compacts a rolled segment at its next pass
    (the broker's log.cleaner.backoff.ms, 15 s by default) and drops a tombstone
    `delete_retention_ms` after its first cleaning."""
    return {
        "cleanup.policy": "compact",
        "segment.ms": "200",
        "min.cleanable.dirty.ratio": "0.01",
        "min.compaction.lag.ms": "0",
        "max.compaction.lag.ms": "1000",
        "delete.retention.ms": str(delete_retention_ms),
    }


def set_topic_configs(bootstrap: str, topic: str, configs: dict[str, str]) -> None:
    """Replace the topic's configs (AlterConfigs) with `configs`."""

    async def alter() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            [response] = await admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic, configs)]
            )
            assert all(r[0] == 0 for r in response.resources), response
        finally:
            await admin.close()

    asyncio.run(alter())


def records(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    """Every record the topic holds now, (key, value) in offset order per partition."""

    async def read() -> list[tuple[bytes | None, bytes | None]]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            if not partitions:
                await consumer._client.force_metadata_update()
                partitions = consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in sorted(partitions)]
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            ends = await consumer.end_offsets(tps)
            got: list[tuple[bytes | None, bytes | None]] = []
            while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
                for batch in (await consumer.getmany(timeout_ms=500)).values():
                    got += [
                        (m.key, m.value)
                        for m in batch
                        if m.offset < ends[TopicPartition(m.topic, m.partition)]
                    ]
            return got
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(read(), 60))


def end_offsets(bootstrap: str, topic: str) -> dict[tuple[str, int], int]:
    async def ends() -> dict[tuple[str, int], int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        await consumer.start()
        try:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
            found = await consumer.end_offsets(tps)
            return {(tp.topic, tp.partition): o for tp, o in found.items()}
        finally:
            await consumer.stop()

    return asyncio.run(asyncio.wait_for(ends(), 60))


def compact_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[tuple[bytes | None, bytes | None]]], bool],
    write: Callable[[], None],
    timeout: float = 150,
) -> list[tuple[bytes | None, bytes | None]]:
    """Call `write` (a record that rolls the segment and dirties the log) until the topic's
    records satisfy `done`: the cleaner has run. The records it ended with."""

    def cleaned() -> list[tuple[bytes | None, bytes | None]] | None:
        write()
        held = records(bootstrap, topic)
        return held if done(held) else None

    return wait_for(f"the log cleaner to compact {topic}", cleaned, timeout)  # type: ignore[no-any-return]


def ids_for_every_partition(partitions: int, start: int = 90) -> list[int]:
    """Ids from `start` on whose keys (decimal text) land on each of `partitions` partitions
    (the producers' murmur2): records for each roll every partition's segment."""
    partitioner = DefaultPartitioner()
    every = list(range(partitions))
    found: dict[int, int] = {}
    n = start
    while len(found) < partitions:
        found.setdefault(partitioner(str(n).encode(), every, every), n)
        n += 1
    return sorted(found.values())
