"""End to end on a real Kafka broker: what the consumer makes of transactions, partitions
it has not read, and topics created again (the "Hardening" issue, items 5, 6 and 9)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from typing import Any

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from coach.kafka_tools import route
from config.settings import Settings
from tests.e2e.helpers import Service, coach, free_port, lines, stats, wait_for
from tests.e2e.test_walking_skeleton import _partition_counts, get_json, yesterday_noon_utc
from tests.factories import completed, upserted

pytestmark = pytest.mark.broker


def _routed(settings: Settings, events: list[dict[str, Any]]) -> list[tuple[str, bytes, bytes]]:
    """(topic, key, value) of each event, as `coach publish` sends it."""
    out = []
    for n, line in enumerate(lines(events).splitlines(), 1):
        topic, key = route(settings, line, n)
        out.append((topic, key, line))
    return out


def _transactional(settings: Settings, name: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers, transactional_id=name
    )


async def _in_transaction(
    producer: AIOKafkaProducer, records: list[tuple[str, bytes, bytes]], *, commit: bool = True
) -> None:
    await producer.begin_transaction()
    for topic, key, value in records:
        await producer.send_and_wait(topic, value=value, key=key)
    if commit:
        await producer.commit_transaction()
    else:
        await producer.abort_transaction()


def _workout_ids(settings: Settings) -> set[str]:
    conn = sqlite3.connect(settings.db_path)
    try:
        return {row[0] for row in conn.execute("SELECT workout_id FROM workouts")}
    finally:
        conn.close()


def _lag(port: int) -> dict[str, Any]:
    status, body = get_json(f"http://127.0.0.1:{port}/lag")
    assert status == 200, body
    return body


def test_transactional_producer_leaves_no_lag(kafka_settings, tmp_path):
    """Item 5. Transactions committed (and one aborted) by a transactional producer: every
    partition is read up to its high watermark (past the commit markers), the api is
    ready, and the aborted workout never shows."""
    settings = kafka_settings
    coach(settings, "topics", "create")
    day = yesterday_noon_utc()
    catalog = _routed(settings, [upserted(i) for i in range(1, 9)])
    workouts = _routed(settings, [completed(f"w-{u}", u, day, [(1, 20.0, 5)]) for u in range(1, 7)])
    aborted = _routed(settings, [completed("w-aborted", 7, day, [(3, 60.0, 5)])])
    late = _routed(settings, [completed("w-late", 7, day, [(2, 10.0, 5)])])

    async def produce() -> None:
        producer = _transactional(settings, f"coach-test-{settings.topic_workouts}")
        await producer.start()
        try:
            await _in_transaction(producer, catalog)
            await _in_transaction(producer, workouts)
            await _in_transaction(producer, aborted, commit=False)
            await _in_transaction(producer, late)
        finally:
            await producer.stop()

    asyncio.run(asyncio.wait_for(produce(), 60))

    consumer = Service(settings, tmp_path / "consume.log", "consume")
    port = free_port()
    api = Service(settings, tmp_path / "api.log", "api", "--port", str(port))
    try:
        wait_for(
            "the committed events",
            lambda: (s := stats(settings))["exercises"] == 8 and s["workouts"] == 7,
            service=consumer,
        )
        body = wait_for(
            "no lag on any partition",
            lambda: (b := _lag(port))["total_lag"] == 0 and b,
            timeout=20,
            service=api,
        )
        assert all(p["lag"] == 0 for p in body["partitions"]), body
        status, ready = wait_for(
            "/ready", lambda: (r := get_json(f"http://127.0.0.1:{port}/ready"))[0] == 200 and r
        )
        assert status == 200, ready
    finally:
        assert consumer.stop() == 0, consumer.log()
        api.stop()

    assert "w-aborted" not in _workout_ids(settings)
    assert stats(settings)["workouts"] == 7
    ends = {
        f"{topic}/{p}": n
        for topic in (settings.topic_exercises, settings.topic_workouts)
        for p, n in _partition_counts(settings, topic).items()
        if n
    }
    assert stats(settings)["offsets"] == ends


def test_lag_lists_partitions_never_read(kafka_settings, tmp_path):
    """Item 6. /lag lists every partition assigned: an empty one (lag 0) and one whose only
    records are in a transaction still open (not readable yet, so lag), which keeps /ready
    failing until the transaction commits and its records are read."""
    settings = kafka_settings
    coach(settings, "topics", "create")  # 3 partitions each
    day = yesterday_noon_utc()
    coach(
        settings,
        "publish",
        input=lines([upserted(i) for i in range(1, 4)] + [completed("w-1", 7, day, [(1, 5.0, 5)])]),
    )
    workouts_read = {
        p for p, n in _partition_counts(settings, settings.topic_workouts).items() if n
    }
    unread = next(p for p in range(3) if p not in workouts_read)
    held = [(settings.topic_workouts, b"hold", lines([completed("w-held", 8, day, [(2, 5.0, 5)])]))]

    async def scenario() -> None:
        producer = _transactional(settings, f"coach-test-{settings.topic_workouts}")
        await producer.start()
        consumer = Service(settings, tmp_path / "consume.log", "consume")
        port = free_port()
        api = Service(settings, tmp_path / "api.log", "api", "--port", str(port))
        try:
            await producer.begin_transaction()
            for topic, key, value in held:
                await producer.send_and_wait(topic, value=value, key=key, partition=unread)

            def listed() -> dict[str, Any] | None:
                body = _lag(port)
                parts = {(p["topic"], p["partition"]): p for p in body["partitions"]}
                held_part = parts.get((settings.topic_workouts, unread))
                if held_part is None or not held_part["lag"]:
                    return None
                return body

            body = await asyncio.to_thread(wait_for, "every partition in /lag", listed, 20, api)
            parts = {(p["topic"], p["partition"]): p for p in body["partitions"]}
            assert sorted(parts) == sorted(
                (t, p)
                for t in (
                    settings.topic_exercises,
                    settings.topic_workouts,
                    settings.topic_erasures,
                )
                for p in range(3)
            ), body
            held_part = parts[(settings.topic_workouts, unread)]
            assert held_part["next_offset"] == 0 and held_part["high_watermark"] == 1, body
            empty = [
                p
                for (t, n), p in parts.items()
                if t == settings.topic_workouts and n not in workouts_read and n != unread
            ]
            assert all(p["next_offset"] == 0 and p["lag"] == 0 for p in empty), body
            status, ready = get_json(f"http://127.0.0.1:{port}/ready")
            assert status == 503 and "data_age" in ready["failing"], ready

            await producer.commit_transaction()
            await asyncio.to_thread(
                wait_for,
                "/ready once the transaction is read",
                lambda: get_json(f"http://127.0.0.1:{port}/ready")[0] == 200,
                30,
                api,
            )
            assert _lag(port)["total_lag"] == 0
        finally:
            await producer.stop()
            assert consumer.stop() == 0, consumer.log()
            api.stop()

    asyncio.run(asyncio.wait_for(scenario(), 120))


async def _recreate(settings: Settings, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics([topic])
        deadline = time.monotonic() + 30
        while True:  # the deletion completes in the background
            try:
                await admin.create_topics([NewTopic(topic, settings.topic_partitions, 1)])
                return
            except TopicAlreadyExistsError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()


def test_recreated_topic_refilled_past_the_stored_offset_stops_with_the_replay_hint(
    kafka_settings, tmp_path
):
    """Item 9. The workouts topic is deleted and created again, then refilled past the
    offsets stored: the consumer stops (exit 3) with the replay hint, and applies nothing
    of the new topic."""
    settings = kafka_settings
    coach(settings, "topics", "create")
    day = yesterday_noon_utc()
    users = range(1, 13)
    first = [completed(f"old-{u}", u, day, [(1, 5.0, 5)]) for u in users]
    coach(settings, "publish", input=lines([upserted(1), *first]))
    consumer = Service(settings, tmp_path / "c1.log", "consume")
    try:
        wait_for("the old workouts", lambda: stats(settings)["workouts"] == 12, service=consumer)
    finally:
        assert consumer.stop() == 0, consumer.log()
    before = stats(settings)

    asyncio.run(asyncio.wait_for(_recreate(settings, settings.topic_workouts), 60))
    # The same users (so the same partitions), twice as many records: past every offset.
    again = [completed(f"new-{n}-{u}", u, day, [(1, 9.0, 9)]) for n in range(2) for u in users]
    coach(settings, "publish", input=lines(again))
    counts = _partition_counts(settings, settings.topic_workouts)
    for key, offset in before["offsets"].items():
        topic, p = key.rsplit("/", 1)
        if topic == settings.topic_workouts:
            assert counts[int(p)] > offset

    second = Service(settings, tmp_path / "c2.log", "consume")
    deadline = time.monotonic() + 30
    while second.proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    code = second.stop()
    assert code == 3, second.log()
    assert "coach replay" in second.log()
    assert "created again" in second.log()
    assert stats(settings) == before
    assert not any(w.startswith("new-") for w in _workout_ids(settings))
