"""Both CloudEvents content modes on a real broker: records written by the official
CloudEvents SDK's Kafka binding (binary and structured mode) and coach's own structured
JSON, mixed on the same topics, all reach the projection through a real `coach consume`;
a record in neither mode is a dead letter with the reason."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from cloudevents.core.bindings import kafka

from tests.e2e.helpers import Service, coach, stats, wait_for
from tests.factories import completed, upserted, value_of
from tests.unit.test_binary_mode import sdk_event

pytestmark = pytest.mark.broker


def _send(settings: Any, records: list[tuple[str, bytes, bytes | None, list[Any]]]) -> None:
    async def send() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        await producer.start()
        try:
            for topic, key, value, headers in records:
                await producer.send_and_wait(topic, value=value, key=key, headers=headers)
        finally:
            await producer.stop()

    asyncio.run(send())


def test_binary_and_structured_records_of_the_sdk_mixed_on_one_topic(kafka_settings, tmp_path):
    settings = kafka_settings
    coach(settings, "topics", "create")
    ex, wo = settings.topic_exercises, settings.topic_workouts
    at = datetime.now(UTC) - timedelta(hours=2)
    records: list[tuple[str, bytes, bytes | None, list[Any]]] = []
    for i in range(1, 7):
        event = upserted(i)
        if i % 3 == 0:  # coach's own: structured JSON, no headers
            records.append((ex, str(i).encode(), value_of(event), []))
            continue
        convert = kafka.to_binary_event if i % 3 == 1 else kafka.to_structured_event
        message = convert(sdk_event(event))
        records.append((ex, str(i).encode(), message.value, list(message.headers.items())))
    for n in range(9):
        event = completed(f"w{n}", f"u{n % 3}", at, [(1 + n % 6, 20.0, 5)])
        key = f"u{n % 3}".encode()
        if n % 3 == 0:
            records.append((wo, key, value_of(event), []))
            continue
        convert = kafka.to_binary_event if n % 3 == 1 else kafka.to_structured_event
        message = convert(sdk_event(event))
        records.append((wo, key, message.value, list(message.headers.items())))
    neither = value_of(completed("w-x", "u0", at, [(1, 20.0, 5)]))
    records.append((wo, b"u0", neither, [("content-type", b"application/json")]))
    _send(settings, records)

    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        wait_for(
            "every record applied or dead-lettered",
            lambda: (
                (s := stats(settings))["exercises"] == 6
                and s["workouts"] == 9
                and s["dead_letters"] == 1
            ),
            service=consumer,
        )
    finally:
        consumer.stop()
    [letter] = [line for line in coach(settings, "dead-letters", "list").stdout.splitlines()]
    assert b"neither a structured-mode CloudEvent" in letter
    assert b'"content-type":"application/json"' in letter
