"""End to end on a real Kafka broker: monolith events in, GET /fitness/wod out.

Each test creates topics of its own, publishes with `coach publish`, runs the real
`coach consume` / `coach api` / `coach run` processes, and asks over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from tests.e2e.helpers import (
    Service,
    coach,
    free_port,
    lines,
    produce_raw,
    stats,
    wait_for,
)
from tests.factories import completed, upserted

pytestmark = pytest.mark.broker


def get_json(url: str, token: str | None = None) -> tuple[int, dict]:  # type: ignore[type-arg]
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def yesterday_noon_utc() -> datetime:
    return datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) - timedelta(days=1)


def test_published_catalog_and_yesterdays_workout_shape_the_wod(kafka_settings, tmp_path):
    """Catalog of 8 and a workout yesterday of 2 of them: user 7's WOD is the other 6,
    through coach publish -> Kafka -> coach consume -> SQLite -> coach api."""
    settings = kafka_settings
    coach(settings, "topics", "create")
    events = [upserted(i, name=f"Exercise {i}") for i in range(1, 9)]
    events.append(completed("w-1", 7, yesterday_noon_utc(), [(3, 60.0, 5), (5, 12.5, 10)]))
    events.append(completed("w-2", "8", yesterday_noon_utc(), [(1, 40.0, 8)]))
    coach(settings, "publish", input=lines(events))

    consumer = Service(settings, tmp_path / "consume.log", "consume")
    port = free_port()
    api = Service(settings, tmp_path / "api.log", "api", "--port", str(port))
    try:
        wait_for(
            "the projection to hold all events",
            lambda: (s := stats(settings))["exercises"] == 8 and s["workouts"] == 2,
            service=consumer,
        )
        token = coach(settings, "token", "--sub", "7").stdout.decode().strip()
        status, body = wait_for(
            "the api to answer",
            lambda: get_json(f"http://127.0.0.1:{port}/fitness/wod", token),
            service=api,
        )
        assert status == 200, body
        assert sorted(e["id"] for e in body["exercises"]) == [1, 2, 4, 6, 7, 8]
        # The same user's suggestion for an exercise they did comes from their workout
        # (not shown today since it was done yesterday), another user's from defaults.
        other = coach(settings, "token", "--sub", "8").stdout.decode().strip()
        status, body = get_json(f"http://127.0.0.1:{port}/fitness/wod?fresh=true", other)
        assert status == 200 and 1 not in {e["id"] for e in body["exercises"]}
    finally:
        assert consumer.stop() == 0, consumer.log()
        api.stop()

    final = stats(settings)
    assert final["offsets"] == {
        **{
            f"{settings.topic_exercises}/{p}": n
            for p, n in _partition_counts(settings, settings.topic_exercises).items()
            if n
        },
        **{
            f"{settings.topic_workouts}/{p}": n
            for p, n in _partition_counts(settings, settings.topic_workouts).items()
            if n
        },
    }


def _partition_counts(settings, topic) -> dict[int, int]:  # type: ignore[no-untyped-def]
    """The end offset of each partition of `topic`, asked of the broker."""

    async def ask() -> dict[int, int]:
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap_servers)
        await consumer.start()
        try:
            parts = [
                TopicPartition(topic, p)
                for p in consumer.partitions_for_topic(topic) or await _partitions(consumer, topic)
            ]
            ends = await consumer.end_offsets(parts)
            return {tp.partition: n for tp, n in ends.items()}
        finally:
            await consumer.stop()

    return asyncio.run(ask())


async def _partitions(consumer, topic):  # type: ignore[no-untyped-def]
    await consumer.topics()
    return sorted((await consumer._client.fetch_all_metadata()).partitions_for_topic(topic))


def test_publish_keys_and_topics(kafka_settings):
    """coach publish sends catalog events keyed by exercise id to the compacted topic and
    workouts keyed by user id to the workouts topic."""
    settings = kafka_settings
    coach(settings, "topics", "create")
    coach(
        settings,
        "publish",
        input=lines([upserted(42), completed("w", 7, yesterday_noon_utc(), [(42, 1.0, 1)])]),
    )

    async def read() -> tuple[list, str]:  # type: ignore[type-arg]
        consumer = AIOKafkaConsumer(
            settings.topic_exercises,
            settings.topic_workouts,
            bootstrap_servers=settings.kafka_bootstrap_servers,
            auto_offset_reset="earliest",
            enable_auto_commit=False,
            group_id=None,
        )
        await consumer.start()
        got = []
        try:
            while len(got) < 2:
                for messages in (await consumer.getmany(timeout_ms=1000)).values():
                    got += [(m.topic, m.key) for m in messages]
        finally:
            await consumer.stop()
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            [described] = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, settings.topic_exercises)]
            )
            configs = {c[0]: c[1] for c in described.resources[0][4]}
        finally:
            await admin.close()
        return got, configs["cleanup.policy"]

    got, policy = asyncio.run(asyncio.wait_for(read(), 60))
    assert sorted(got) == sorted(
        [(settings.topic_exercises, b"42"), (settings.topic_workouts, b"7")]
    )
    assert policy == "compact"
    # Topics creation is idempotent.
    assert b"exists" in coach(settings, "topics", "create").stdout


def test_restart_resumes_from_stored_offsets_and_bad_records_are_dead_lettered(
    kafka_settings, tmp_path
):
    """A second run of the consumer applies only what is new; a poison record and a
    tombstone on the way are handled without stopping the partition."""
    settings = kafka_settings
    coach(settings, "topics", "create")
    coach(settings, "publish", input=lines([upserted(i) for i in range(1, 6)]))
    first = Service(settings, tmp_path / "c1.log", "consume")
    try:
        wait_for("5 exercises", lambda: stats(settings)["exercises"] == 5, service=first)
    finally:
        assert first.stop() == 0

    produce_raw(
        settings,
        [
            (settings.topic_workouts, b"7", b"\x00garbage"),
            (settings.topic_exercises, b"2", None),  # tombstone
        ],
    )
    coach(
        settings,
        "publish",
        input=lines([completed("w-9", 7, yesterday_noon_utc(), [(1, 10.0, 5)])]),
    )
    second = Service(settings, tmp_path / "c2.log", "consume")
    try:
        wait_for(
            "the new events",
            lambda: (
                (s := stats(settings))["workouts"] == 1
                and s["exercises"] == 4
                and s["dead_letters"] == 1
            ),
            service=second,
        )
    finally:
        assert second.stop() == 0
    # The second run read only the 3 new records: the 5 applied before were not re-read.
    assert "consumer stopped after 5 records" in first.log()
    assert "consumer stopped after 3 records" in second.log()
    final = stats(settings)
    assert sum(final["offsets"].values()) == 5 + 1 + 1 + 1  # every record, once


def test_coach_run_serves_a_wod_with_a_dev_token(kafka_settings, tmp_path):
    """What `make run` does after the broker: topics, demo data, `coach run`, a token."""
    settings = kafka_settings
    coach(settings, "topics", "create")
    demo = coach(settings, "demo-data", "--users", "20").stdout
    coach(settings, "publish", input=demo)
    port = free_port()
    service = Service(settings, tmp_path / "run.log", "run", "--port", str(port))
    try:
        token = coach(settings, "token", "--sub", "1").stdout.decode().strip()
        url = f"http://127.0.0.1:{port}/fitness/wod"
        wait_for("a WOD from coach run", lambda: get_json(url, token)[0] == 200, service=service)
        status, body = get_json(url, token)
        assert status == 200 and len(body["exercises"]) == 6
    finally:
        assert service.stop() == 0, service.log()
