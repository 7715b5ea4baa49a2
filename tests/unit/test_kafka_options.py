"""The consumers' options (config/kafka.py) reach aiokafka as meant."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer

from config.kafka import FETCH_MAX_WAIT_MS, consumer_options
from config.settings import Settings


def test_a_fetch_that_finds_nothing_is_held_briefly_not_aiokafkas_half_second(tmp_path):
    """aiokafka holds a fetch of only quiet partitions up to fetch_max_wait_ms (500 ms by
    default) while the busy partitions' next records wait for it: that was the p99 of
    publish-to-WOD (bench/freshness.py). The consumer built from coach's options holds it
    for FETCH_MAX_WAIT_MS."""
    settings = Settings(db_path=tmp_path / "coach.db", jwt_secret="s" * 40)

    async def built() -> int:
        consumer = AIOKafkaConsumer(**consumer_options(settings, "test"))
        return int(consumer._fetch_max_wait_ms)  # what it gives its Fetcher at start

    assert FETCH_MAX_WAIT_MS <= 50
    assert asyncio.run(built()) == FETCH_MAX_WAIT_MS
