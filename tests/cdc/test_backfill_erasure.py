"""The backfill against a user erased while it runs (real PostgreSQL, no relay needed): the
outbox never holds a workout of that user after their erasure."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from sqlalchemy import Connection, text

from deploy.monolith import models
from monolith_kit.backfill import BackfillSource, backfill
from tests.cdc.conftest import Monolith

pytestmark = [pytest.mark.broker, pytest.mark.cdc]


def _outbox(monolith: Monolith) -> list[tuple[str, str, str]]:
    """(aggregatetype, type, user id) of every outbox row, in commit order."""
    with monolith.engine.connect() as conn:
        rows = conn.execute(
            text("SELECT aggregatetype, type, payload::text FROM outbox ORDER BY created_at, id")
        ).all()
    return [(a, t, str(orjson.loads(p)["data"].get("user_id"))) for a, t, p in rows]


def test_a_user_erased_after_the_backfills_snapshot_gets_no_workout_after_the_erasure(
    monolith: Monolith,
):
    """The backfill reads its snapshot, the user is erased (committed), then the backfill
    writes: it must check again, inside its write transaction, that the workout is there."""
    now = datetime.now(UTC)
    with monolith.sessions() as session:
        for user in ("u-gone", "u-stays"):
            models.log_workout(
                session,
                user_id=user,
                workout_id=f"w-{user}",
                completed_at=now - timedelta(hours=3),
                exercises=[{"exercise_id": 1, "sets": 3, "reps": 8, "weight": 40.0}],
            )
        session.commit()
    with monolith.engine.begin() as conn:
        conn.execute(text("DELETE FROM outbox"))  # as if written before the outbox existed

    def completed_then_erase(conn: Connection, since: datetime) -> Iterator[Any]:
        events = list(models.BACKFILL.completed_workouts(conn, since))  # the snapshot
        with monolith.sessions() as session:  # meanwhile, the user asks to be erased
            models.erase_user(session, "u-gone")
            session.commit()
        yield from events

    source = BackfillSource(
        catalog=lambda conn: [],
        completed_workouts=completed_then_erase,
        current=models.BACKFILL.current,
    )
    result = backfill(monolith.engine, source, progress=None)

    rows = _outbox(monolith)
    erased_at = rows.index(("erasure", "fitness.user.erased", "u-gone"))
    after = [r for r in rows[erased_at:] if r[2] == "u-gone" and r[1] != "fitness.user.erased"]
    assert after == [], rows
    assert ("workout", "fitness.workout.completed", "u-stays") in rows
    assert result.workouts == 1


def _read_all(settings: Any, topic: str, want: int) -> list[tuple[bytes | None, bytes | None]]:
    """(key, value) of the first `want` records of `topic` (waits up to 90 s for them)."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    async def read() -> list[tuple[bytes | None, bytes | None]]:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=settings.kafka_bootstrap_servers, auto_offset_reset="earliest"
        )
        await consumer.start()
        got: list[tuple[bytes | None, bytes | None]] = []
        try:
            async with asyncio.timeout(90):
                while len(got) < want:
                    for records in (await consumer.getmany(timeout_ms=500)).values():
                        got += [(r.key, r.value) for r in records]
        finally:
            await consumer.stop()
        return got

    return asyncio.run(read())


def test_an_erasure_reaches_the_erasures_topic_through_the_real_outbox(relay: Monolith):
    """The stand-in monolith erases a user; Debezium's outbox router publishes the erasure
    to the erasures topic (aggregatetype `erasure`) and to the workouts topic, keyed by the
    user id, with the same `time`."""
    with relay.sessions() as session:
        models.erase_user(session, "u-77")
        session.commit()
    [(key, value)] = _read_all(relay.settings, relay.settings.topic_erasures, 1)
    [(wkey, wvalue)] = _read_all(relay.settings, relay.settings.topic_workouts, 1)
    event, copy = orjson.loads(value or b"{}"), orjson.loads(wvalue or b"{}")
    assert (key, wkey) == (b"u-77", b"u-77")
    assert event["type"] == copy["type"] == "fitness.user.erased"
    assert event["data"] == {"user_id": "u-77"} and event["time"] == copy["time"]
