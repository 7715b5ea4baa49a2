"""Kafka-side tools of the command line: creating the topics and publishing events."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, NoError, TopicAlreadyExistsError, for_code

from config.kafka import client_options
from config.settings import Settings
from events.codec import ROLE_OF_TYPE, DecodeError, record_key
from events.models import USER_ERASED


class PublishError(ValueError):
    """A line that cannot be published; the message names the line."""


def topic_specs(settings: Settings, *, replication_factor: int) -> list[NewTopic]:
    """The catalog topic is compacted (latest state per exercise, tombstones delete); the
    workouts topic keeps the broker's time-based retention; the erasures topic is compacted
    and never gets a tombstone, so the last erasure of every user erased outlives every
    record of theirs (docs/PRIVACY.md)."""
    return [
        NewTopic(
            settings.topic_exercises,
            num_partitions=settings.topic_partitions,
            replication_factor=replication_factor,
            topic_configs={"cleanup.policy": "compact", "min.compaction.lag.ms": "60000"},
        ),
        NewTopic(
            settings.topic_workouts,
            num_partitions=settings.topic_partitions,
            replication_factor=replication_factor,
            topic_configs={"cleanup.policy": "delete"},
        ),
        NewTopic(
            settings.topic_erasures,
            num_partitions=settings.topic_partitions,
            replication_factor=replication_factor,
            topic_configs={"cleanup.policy": "compact"},
        ),
    ]


async def create_topics(settings: Settings, *, replication_factor: int = 1) -> list[str]:
    """Create the three topics; return the ones that were created (existing ones are kept)."""
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="coach-admin")
    await admin.start()
    try:
        response = await admin.create_topics(
            topic_specs(settings, replication_factor=replication_factor)
        )
    finally:
        await admin.close()
    created = []
    for name, code, *rest in response.topic_errors:
        error = for_code(code)
        if error is NoError:
            created.append(name)
        elif error is not TopicAlreadyExistsError:
            detail = rest[0] if rest and rest[0] else error.__name__
            raise KafkaError(f"could not create topic {name}: {detail}")
    return created


@dataclass
class PublishResult:
    events: int = 0
    by_topic: dict[str, int] | None = None


def route(settings: Settings, line: bytes, line_no: int) -> tuple[str, bytes]:
    """The topic and key of one JSON line of a CloudEvent (an erasure: the workouts topic;
    `routes` adds the erasures topic)."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise PublishError(f"line {line_no}: not JSON ({exc})") from None
    if not isinstance(event, dict):
        raise PublishError(f"line {line_no}: not a JSON object")
    role = ROLE_OF_TYPE.get(event.get("type", ""))
    try:
        key = record_key(event)
    except (DecodeError, KeyError, TypeError) as exc:
        raise PublishError(f"line {line_no}: cannot tell topic and key: {exc}") from None
    topic = settings.topic_exercises if role == "exercises" else settings.topic_workouts
    return topic, key.encode()


def routes(settings: Settings, line: bytes, line_no: int) -> list[tuple[str, bytes]]:
    """Every topic and key a line goes to: an erasure to the erasures topic, and to the
    workouts topic too, as the monolith publishes it (coaches before the erasures topic
    read it there)."""
    topic, key = route(settings, line, line_no)
    if orjson.loads(line).get("type") == USER_ERASED:
        return [(settings.topic_erasures, key), (topic, key)]
    return [(topic, key)]


async def publish_lines(settings: Settings, lines: Iterable[bytes]) -> PublishResult:
    """Send each JSON line to its topic with its key; wait until all are acknowledged.

    Lines are validated for routing before anything is sent, so a bad line sends nothing.
    """
    routed = []
    for line_no, line in enumerate(lines, start=1):
        if line.strip():
            for topic, key in routes(settings, line, line_no):
                routed.append((topic, key, line.strip()))
    producer = AIOKafkaProducer(
        **client_options(settings),
        client_id="coach-publish",
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    by_topic: dict[str, int] = {}
    try:
        futures = []
        for topic, key, value in routed:
            futures.append(await producer.send(topic, value=value, key=key))
            by_topic[topic] = by_topic.get(topic, 0) + 1
        await producer.flush()
        for fut in futures:
            await fut
    finally:
        await producer.stop()
    return PublishResult(events=len(routed), by_topic=by_topic)
