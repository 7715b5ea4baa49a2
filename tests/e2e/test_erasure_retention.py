"""On the real broker: an erasure outlives its user's records once the broker forgot what it
may forget, and an erasure keyed by something else than its user still erases them.

The topics are the test's own. The erasures topic is compacted with settings that make the
log cleaner run within seconds (`segment.ms`, `min.cleanable.dirty.ratio`,
`delete.retention.ms`); the test waits until the cleaner really removed the duplicate
erasure. The workouts topic loses its oldest records the way time retention removes them,
from its start (the broker's retention check runs every 5 minutes, so the test moves the
log start offset itself with DeleteRecords, which is what retention does to a partition).
Then `coach replay --into` rebuilds a projection from what is left.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.records_to_delete import RecordsToDelete

from config.settings import Settings
from tests.e2e.helpers import coach, produce_raw
from tests.factories import completed, upserted, user_erased, value_of

pytestmark = pytest.mark.broker

NOW = datetime.now(UTC)
QUICK_COMPACTION = {
    "cleanup.policy": "compact",
    "segment.ms": "100",
    "min.cleanable.dirty.ratio": "0.01",
    "min.compaction.lag.ms": "0",
    "delete.retention.ms": "100",
}


async def _admin(settings: Settings, work) -> None:  # type: ignore[no-untyped-def]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await work(admin)
    finally:
        await admin.close()


def _create_topics(settings: Settings) -> None:
    topics = [
        NewTopic(settings.topic_exercises, 1, 1, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(settings.topic_workouts, 1, 1, topic_configs={"segment.ms": "100"}),
        NewTopic(settings.topic_erasures, 1, 1, topic_configs=QUICK_COMPACTION),
    ]
    asyncio.run(_admin(settings, lambda admin: admin.create_topics(topics)))


def _erasure_keys(settings: Settings) -> list[bytes | None]:
    """The keys of the records the erasures topic holds, from its start."""

    async def read() -> list[bytes | None]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        try:
            tp = TopicPartition(settings.topic_erasures, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            keys: list[bytes | None] = []
            while await consumer.position(tp) < end:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    keys += [r.key for r in records]
            return keys
        finally:
            await consumer.stop()

    return asyncio.run(read())


def _rows(path: Path, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_after_retention_and_compaction_a_replay_keeps_erased_users_erased(
    kafka_settings: Settings, tmp_path: Path
):
    settings = kafka_settings.model_copy(update={"topic_partitions": 1})
    _create_topics(settings)
    ex, wo, er = settings.topic_exercises, settings.topic_workouts, settings.topic_erasures
    erased_at = NOW - timedelta(hours=2)
    w_a = value_of(completed("w-a", "u-a", NOW - timedelta(hours=3), [(1, 50.0, 5)]))
    erase_a = value_of(user_erased("u-a", at=erased_at))
    produce_raw(
        settings,
        [
            (ex, b"1", value_of(upserted(1))),
            (wo, b"u-a", w_a),  # offset 0
            (wo, b"u-a", erase_a),  # 1: the erasure, also on the workouts topic
            (er, b"u-a", erase_a),
            (er, b"u-a", erase_a),  # the relay delivered it twice
            (wo, b"u-a", w_a),  # 2: the backfill wrote it after the erasure
            (wo, b"u-b", value_of(completed("w-b", "u-b", NOW - timedelta(hours=3), []))),
            # an older producer keyed u-b's erasure by something else
            (wo, b"not-u-b", value_of(user_erased("u-b", at=erased_at))),
            (wo, b"u-c", value_of(completed("w-c", "u-c", NOW - timedelta(hours=1), []))),
        ],
    )
    time.sleep(0.5)  # past segment.ms: the next record rolls the segment, the cleaner may run
    produce_raw(settings, [(er, b"u-z", value_of(user_erased("u-z", at=erased_at)))])

    # Retention: the workouts topic forgets its two oldest records (u-a's workout and
    # erasure); what is left of u-a there is the backfill's copy of their workout.
    tp = TopicPartition(wo, 0)
    asyncio.run(_admin(settings, lambda admin: admin.delete_records({tp: RecordsToDelete(2)})))
    deadline = time.monotonic() + 120
    while _erasure_keys(settings) != [b"u-a", b"u-z"]:  # the log cleaner ran
        assert time.monotonic() < deadline, _erasure_keys(settings)
        time.sleep(1)

    rebuilt = tmp_path / "rebuilt.db"
    coach(settings, "replay", "--into", str(rebuilt))

    held = _rows(rebuilt, "SELECT user_id, workout_id FROM workouts ORDER BY user_id")
    assert held == [("u-c", "w-c")]
    assert _rows(rebuilt, "SELECT value FROM meta WHERE name = 'erasure_key_mismatches'") == [(1,)]
    assert _rows(rebuilt, "SELECT count(*) FROM dead_letters") == [(0,)]
    on_rebuilt = settings.model_copy(update={"db_path": rebuilt})
    for user in ("u-a", "u-b"):
        status = json.loads(coach(on_rebuilt, "erasure", "status", user).stdout)
        assert status["ok"] and status["rows_at_or_before_erasure"] == 0, status


def test_a_new_projection_reads_the_erasures_before_any_workout(
    kafka_settings: Settings, tmp_path: Path
):
    """`coach consume` on a new file: the workouts of a user erased in the erasures topic
    are never stored, not even for a batch (a trigger on the real file records every row
    stored into `workouts`)."""
    from store.db import connect
    from tests.e2e.helpers import Service, stats, wait_for

    settings = kafka_settings.model_copy(update={"batch_max_records": 50})
    coach(settings, "topics", "create")
    wo, er = settings.topic_workouts, settings.topic_erasures
    erased_at = NOW - timedelta(hours=1)
    produce_raw(
        settings,
        [
            (wo, b"u-e", value_of(completed(f"w{i}", "u-e", erased_at, [(1, 5.0, 5)])))
            for i in range(300)
        ]
        + [(wo, b"u-k", value_of(completed("k", "u-k", erased_at, [(1, 5.0, 5)])))]
        # other users' erasures first: the one of u-e comes late in its partition
        + [(er, f"f{i}".encode(), value_of(user_erased(f"f{i}", at=erased_at))) for i in range(300)]
        + [(er, b"u-e", value_of(user_erased("u-e", at=erased_at)))],
    )
    conn = connect(settings.db_path)
    conn.executescript(
        """CREATE TABLE stored (user_id TEXT);
           CREATE TRIGGER stored_rows AFTER INSERT ON workouts
           BEGIN INSERT INTO stored VALUES (NEW.user_id); END;"""
    )
    conn.close()
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        wait_for(
            "every record read",
            lambda: sum(stats(settings)["offsets"].values()) == 602,
            120,
            consumer,
        )
    finally:
        consumer.stop()
    assert _rows(settings.db_path, "SELECT user_id FROM stored") == [("u-k",)]
    assert "reading 301 erasure records before the other topics" in consumer.log()
