"""On a real broker: the metadata the consumer asks for every heartbeat (which partitions
coach's topics have, and whether the broker is there) is of coach's topics only, and never
waits behind the consumer's long-polling fetch (issue 28: aiokafka's `fetch_all_metadata()`
asked for every topic of the cluster on the fetch's connection and held the consume loop
55-300 ms every 2 s, the publish-to-WOD p99)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from coach.kafka_tools import create_topics
from config.derived import roles
from config.kafka import consumer_options
from config.settings import Settings
from consumer.assignment import Assignment
from consumer.health import Health
from consumer.kafka import topic_metadata
from store.db import connect

pytestmark = pytest.mark.broker

LONG_POLL_MS = 3_000
"""The broker holds a fetch of quiet partitions this long: what the old metadata waited for."""


async def _topics(settings: Settings) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_metadata_is_of_the_named_topics_only_and_creates_none(kafka_settings: Settings) -> None:
    asyncio.run(_named_topics_only(kafka_settings))


async def _named_topics_only(kafka_settings: Settings) -> None:
    await create_topics(kafka_settings)
    consumer = AIOKafkaConsumer(**consumer_options(kafka_settings, "test-metadata"))
    await consumer.start()
    missing = f"{kafka_settings.topic_workouts}.missing"
    try:
        wanted = [kafka_settings.topic_exercises, kafka_settings.topic_workouts, missing]
        for _ in range(60):  # a topic just created has no leader for a moment: "unavailable"
            cluster, unavailable = await topic_metadata(consumer._client, wanted)
            if not unavailable:
                break
            assert set(unavailable) <= set(wanted[:2]), unavailable
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
    assert unavailable == {}
    assert cluster.topics() == {kafka_settings.topic_exercises, kafka_settings.topic_workouts}
    assert cluster.partitions_for_topic(kafka_settings.topic_workouts) == set(
        range(kafka_settings.topic_partitions)
    )
    assert cluster.partitions_for_topic(missing) is None
    assert cluster.brokers()  # the broker answered: the reachability check
    assert missing not in await _topics(kafka_settings)  # asking did not create it


def test_the_heartbeats_refresh_does_not_wait_behind_the_long_poll(
    kafka_settings: Settings, db_path: Path
) -> None:
    asyncio.run(_refresh_beside_a_long_poll(kafka_settings, db_path))


async def _refresh_beside_a_long_poll(kafka_settings: Settings, db_path: Path) -> None:
    await create_topics(kafka_settings)
    conn: sqlite3.Connection = connect(db_path)
    health = Health()
    assignment = Assignment(roles(kafka_settings), health)
    consumer = AIOKafkaConsumer(
        **consumer_options(kafka_settings, "test-metadata", fetch_max_wait_ms=LONG_POLL_MS)
    )
    await consumer.start()
    try:

        async def drain() -> None:
            return None

        for _ in range(60):  # until the new topics have leaders: every partition assigned
            await assignment.refresh(consumer, conn, drain)
            if assignment.assigned:
                break
            await asyncio.sleep(0.5)
        assert assignment.assigned
        # Quiet topics: the fetch now in flight is held by the broker for LONG_POLL_MS.
        await consumer.getmany(timeout_ms=300)
        started = time.monotonic()
        await asyncio.wait_for(assignment.refresh(consumer, conn, drain), 10)
        took = time.monotonic() - started
    finally:
        await consumer.stop()
        conn.close()
    assert health.reachable
    # Far below the long poll (the old request waited it out: about 3 s); not a speed
    # limit, the margin is the whole poll.
    assert took < LONG_POLL_MS / 1000 / 3, f"the refresh took {took:.2f} s"
