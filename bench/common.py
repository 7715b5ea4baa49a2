"""Helpers shared by the benchmarks: a broker, topics, and a realistic event stream."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import platform
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from coach.settings import Settings
from events import (
    EXERCISE_UPSERTED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    encode_event,
)

REPO = Path(__file__).resolve().parent.parent


def bootstrap() -> str:
    """COACH_KAFKA_BOOTSTRAP_SERVERS, else the local broker (started if needed)."""
    configured = os.environ.get("COACH_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        return configured
    spec = importlib.util.spec_from_file_location("kafka_broker", REPO / "tools/kafka/broker.py")
    assert spec and spec.loader
    broker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(broker)
    return broker.start(quiet=True)


def bench_settings(db_path: Path, *, partitions: int = 3) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap_servers=bootstrap(),
        topic_exercises=f"bench.{suffix}.exercises",
        topic_workouts=f"bench.{suffix}.workouts",
        topic_partitions=partitions,
        db_path=db_path,
        poll_timeout_ms=100,
    )


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def event_stream(
    *, events: int, users: int, exercises: int = 200, seed: int = 1
) -> Iterator[tuple[str, bytes, bytes]]:
    """(role, key, value): the catalog, then completed workouts of the last two days with
    about 1% redeliveries and 1% deletions, like the monolith's stream."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for i in range(1, exercises + 1):
        data = {
            "id": i,
            "name": f"Exercise {i}",
            "description": "Bench exercise.",
            "difficulty": 1 + i % 5,
            "revision": 1,
            "default_weight": 20.0,
            "default_reps": 10,
            "muscle_groups": [
                {
                    "id": 1 + i % 16,
                    "name": f"Group {1 + i % 16}",
                    "body_part": "legs",
                    "is_primary": True,
                    "intensity": 0.8,
                }
            ],
        }
        yield "exercises", str(i).encode(), orjson.dumps(encode_event(EXERCISE_UPSERTED, data))
    sent: list[tuple[str, str, bytes]] = []
    for n in range(max(0, events - exercises)):
        roll = rng.random()
        if sent and roll < 0.01:  # a redelivery
            user, _, value = rng.choice(sent)
            yield "workouts", user.encode(), value
            continue
        if sent and roll < 0.02:
            user, workout_id, _ = rng.choice(sent)
            value = orjson.dumps(
                encode_event(WORKOUT_DELETED, {"workout_id": workout_id, "user_id": user})
            )
            yield "workouts", user.encode(), value
            continue
        user = str(rng.randint(1, users))
        workout_id = f"w-{seed}-{n}"
        at = now - timedelta(seconds=rng.randint(0, 40 * 3600))
        data: dict[str, Any] = {
            "workout_id": workout_id,
            "user_id": user,
            "completed_at": at.isoformat(),
            "exercises": [
                {"exercise_id": rng.randint(1, exercises), "sets": 3, "reps": 8, "weight": 40.0}
                for _ in range(rng.randint(3, 6))
            ],
        }
        value = orjson.dumps(encode_event(WORKOUT_COMPLETED, data))
        if len(sent) < 10_000:
            sent.append((user, workout_id, value))
        yield "workouts", user.encode(), value


async def create_and_fill(settings: Settings, stream: Iterator[tuple[str, bytes, bytes]]) -> int:
    """Create the topics and publish the stream; return the number of records."""
    from coach.kafka_tools import create_topics

    await create_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks=1,
        linger_ms=20,
        max_batch_size=512 * 1024,
        compression_type=None,
    )
    await producer.start()
    count = 0
    try:
        topic = {"exercises": settings.topic_exercises, "workouts": settings.topic_workouts}
        pending = []
        for role, key, value in stream:
            pending.append(await producer.send(topic[role], value=value, key=key))
            count += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([settings.topic_exercises, settings.topic_workouts])
    finally:
        await admin.close()
