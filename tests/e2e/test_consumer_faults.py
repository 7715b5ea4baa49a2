"""The consumer against real faults on a real broker: SIGKILL at random moments, a broker
restart during ingest, partitions added while running, offsets lost to retention."""

from __future__ import annotations

import asyncio
import random
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewPartitions, RecordsToDelete
from aiokafka.structs import TopicPartition

from events import encode_event
from store import reads
from store.db import connect
from tests.e2e.helpers import Service, coach, lines, produce_raw, stats, wait_for
from tests.factories import completed, exercise_deleted, upserted, value_of, workout_deleted

pytestmark = pytest.mark.broker


# -- a stream with a known outcome ---------------------------------------------------------------


class Truth:
    """Events to publish, and what the projection must hold once it has read them all."""

    def __init__(self, *, workouts: int, seed: int) -> None:
        rng = random.Random(seed)
        now = datetime.now(UTC)
        self.records: list[tuple[str, bytes | None, bytes | None]] = []  # (role, key, value)
        catalog = list(range(1, 41))
        for i in catalog:
            self._add("exercises", upserted(i))
        deleted_exercises = set(rng.sample(catalog, 5))
        for i in deleted_exercises:
            self._add("exercises", exercise_deleted(i, 2))
        self.exercises = len(catalog) - len(deleted_exercises)
        live: dict[str, int] = {}  # workout id -> number of exercises
        sent = []
        for n in range(workouts):
            user = str(rng.randint(1, 500))
            size = rng.randint(1, 5)
            at = now - timedelta(minutes=rng.randint(1, 40 * 60))
            event = completed(f"w{n}", user, at, [(rng.choice(catalog), 20.0, 5)] * size)
            self._add("workouts", event)
            live[f"{user}/w{n}"] = size
            sent.append((user, f"w{n}", event))
            roll = rng.random()
            if roll < 0.05:  # redelivered later
                self._add("workouts", rng.choice(sent)[2])
            elif roll < 0.08:  # deleted later
                u, w, _ = rng.choice(sent)
                self._add("workouts", workout_deleted(w, u))
                live.pop(f"{u}/{w}", None)
            elif roll < 0.09:  # poison
                self.records.append(("workouts", user.encode(), b"\x00" + rng.randbytes(20)))
            elif roll < 0.10:  # a type this coach does not know
                unknown = encode_event("fitness.workout.rated", {"user_id": user, "stars": 5})
                self.records.append(("workouts", user.encode(), value_of(unknown)))
        self.workouts = len(live)
        self.completed_exercises = sum(live.values())
        self.dead_letters = sum(1 for r, _, v in self.records if v and not v.startswith(b"{"))
        self.unknown = sum(1 for _, _, v in self.records if v and b"fitness.workout.rated" in v)

    def _add(self, role: str, event: dict) -> None:  # type: ignore[type-arg]
        data = event["data"]
        key = str(data["id"] if role == "exercises" else data["user_id"]).encode()
        self.records.append((role, key, value_of(event)))

    def check(self, got: dict) -> None:  # type: ignore[type-arg]
        assert {
            k: got[k]
            for k in (
                "exercises",
                "workouts",
                "completed_exercises",
                "dead_letters",
                "unknown_events",
            )
        } == {
            "exercises": self.exercises,
            "workouts": self.workouts,
            "completed_exercises": self.completed_exercises,
            "dead_letters": self.dead_letters,
            "unknown_events": self.unknown,
        }
        assert sum(got["offsets"].values()) == len(self.records)


def applied_records(settings) -> int:  # type: ignore[no-untyped-def]
    """How many records the projection has applied (its stored offsets), read directly."""
    if not settings.db_path.exists():
        return 0
    conn = connect(settings.db_path, readonly=True)
    try:
        return sum(reads.positions(conn).values())
    finally:
        conn.close()


def publish(settings, records) -> None:  # type: ignore[no-untyped-def]
    topics = {"exercises": settings.topic_exercises, "workouts": settings.topic_workouts}
    produce_raw(settings, [(topics[role], key, value) for role, key, value in records])


# -- SIGKILL -------------------------------------------------------------------------------------


def test_sigkill_at_random_moments_loses_and_doubles_nothing(kafka_settings, tmp_path):
    """Tens of thousands of events on 6 partitions, the consumer killed -9 at random moments
    again and again: the final projection equals the ground truth exactly."""
    # Small batches: many transactions, so that a kill lands between and inside them.
    settings = kafka_settings.model_copy(update={"topic_partitions": 6, "batch_max_records": 20})
    truth = Truth(workouts=20_000, seed=42)
    coach(settings, "topics", "create")
    rng = random.Random(7)
    half = len(truth.records) // 2
    kills = mid_stream = 0
    for chunk, published in (
        (truth.records[:half], half),
        (truth.records[half:], len(truth.records)),
    ):
        publish(settings, chunk)
        for _ in range(6):
            before = applied_records(settings)
            consumer = Service(settings, tmp_path / f"kill-{kills}.log", "consume")
            if before < published:  # kill it at a random moment after it made progress
                deadline = time.monotonic() + 60
                while applied_records(settings) == before:
                    assert consumer.proc.poll() is None and time.monotonic() < deadline, (
                        consumer.log()
                    )
                    time.sleep(0.005)
                time.sleep(rng.uniform(0.0, 0.05))
            else:
                time.sleep(rng.uniform(0.5, 1.5))
            assert consumer.stop(signal.SIGKILL) == -signal.SIGKILL
            kills += 1
            applied = applied_records(settings)
            mid_stream += 0 < applied < published
    final = Service(settings, tmp_path / "final.log", "consume")
    try:
        wait_for("the last consumer to start", lambda: "assigned" in final.log(), service=final)
        wait_for(
            "every record applied",
            lambda: sum(stats(settings)["offsets"].values()) == len(truth.records),
            timeout=120,
            service=final,
        )
    finally:
        assert final.stop() == 0, final.log()
    truth.check(stats(settings))
    print(f"{len(truth.records)} records, {kills} kills, {mid_stream} in mid-stream")
    assert mid_stream >= 3, "the kills did not land while records were being applied"


def test_a_second_consumer_of_the_same_projection_waits_for_the_first(kafka_settings, tmp_path):
    """Two consumers writing one projection would interleave their batches: the second
    waits (and says so) until the first, writer process included, has exited."""
    settings = kafka_settings.model_copy(update={"topic_partitions": 1})
    coach(settings, "topics", "create")
    coach(settings, "publish", input=lines([upserted(1), upserted(2)]))
    first = Service(settings, tmp_path / "first.log", "consume")
    second = None
    try:
        wait_for("the catalog", lambda: stats(settings)["exercises"] == 2, service=first)
        second = Service(settings, tmp_path / "second.log", "consume")
        wait_for("the second to wait", lambda: "waiting for it" in second.log(), service=second)
        coach(settings, "publish", input=lines([upserted(3)]))
        wait_for("the first to apply", lambda: stats(settings)["exercises"] == 3, service=first)
        assert "assigned" not in second.log()
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        wait_for("the second to take over", lambda: "assigned" in second.log(), service=second)
        coach(settings, "publish", input=lines([upserted(4)]))
        wait_for("the second to apply", lambda: stats(settings)["exercises"] == 4, service=second)
    finally:
        first.stop()
        if second is not None:
            assert second.stop() == 0, second.log()


# -- broker restart ------------------------------------------------------------------------------


def test_broker_restart_during_ingest(kafka_settings, tmp_path, own_broker):
    """The broker goes away in the middle: the consumer neither exits nor loses events,
    and catches up by itself when the broker is back."""
    broker, home, port, bootstrap = own_broker
    settings = kafka_settings.model_copy(update={"kafka_bootstrap_servers": bootstrap})
    truth = Truth(workouts=3_000, seed=3)
    half = len(truth.records) // 2
    coach(settings, "topics", "create")
    publish(settings, truth.records[:half])
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        wait_for(
            "the first half",
            lambda: sum(stats(settings)["offsets"].values()) == half,
            service=consumer,
        )
        broker.stop(home=home, quiet=True)
        time.sleep(5)  # the consumer keeps running without a broker
        assert consumer.proc.poll() is None, consumer.log()
        broker.start(port=port, home=home, quiet=True)
        publish(settings, truth.records[half:])
        wait_for(
            "the second half after the restart",
            lambda: sum(stats(settings)["offsets"].values()) == len(truth.records),
            timeout=90,
            service=consumer,
        )
    finally:
        assert consumer.stop() == 0, consumer.log()
    truth.check(stats(settings))
    assert "broker" in consumer.log()  # the outage was noticed and logged


# -- partitions added ----------------------------------------------------------------------------


def test_partitions_added_while_running_are_read(kafka_settings, tmp_path):
    settings = kafka_settings.model_copy(update={"topic_partitions": 1})
    coach(settings, "topics", "create")
    coach(settings, "publish", input=lines([upserted(1), upserted(2)]))
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    try:
        wait_for("the catalog", lambda: stats(settings)["exercises"] == 2, service=consumer)

        async def add_partitions() -> None:
            admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
            await admin.start()
            try:
                await admin.create_partitions({settings.topic_workouts: NewPartitions(4)})
            finally:
                await admin.close()

        asyncio.run(add_partitions())

        # Explicit partitions, so the new ones surely get records.
        async def send() -> None:
            producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers)
            await producer.start()
            try:
                for p in range(4):
                    event = completed(f"w{p}", str(p), datetime.now(UTC), [(1, 10.0, 5)])
                    await producer.send_and_wait(
                        settings.topic_workouts, value_of(event), key=str(p).encode(), partition=p
                    )
            finally:
                await producer.stop()

        asyncio.run(send())
        wait_for(
            "events of the new partitions",
            lambda: stats(settings)["workouts"] == 4,
            timeout=90,
            service=consumer,
        )
    finally:
        assert consumer.stop() == 0, consumer.log()
    offsets = stats(settings)["offsets"]
    assert all(offsets[f"{settings.topic_workouts}/{p}"] == 1 for p in range(4))


# -- retention -----------------------------------------------------------------------------------


def test_offsets_lost_to_retention_stop_with_a_replay_hint(kafka_settings, tmp_path):
    """A stored offset no longer in the topic: the consumer stops (exit 3) and says to
    rebuild the projection, instead of jumping silently."""
    settings = kafka_settings.model_copy(update={"topic_partitions": 1})
    at = datetime.now(UTC) - timedelta(hours=1)

    def workouts(ids: range) -> bytes:
        return lines([completed(f"w{i}", 7, at, [(1, 10.0, 5)]) for i in ids])

    coach(settings, "topics", "create")
    coach(settings, "publish", input=workouts(range(3)))
    first = Service(settings, tmp_path / "first.log", "consume")
    try:
        wait_for("3 workouts", lambda: stats(settings)["workouts"] == 3, service=first)
    finally:
        assert first.stop() == 0
    coach(settings, "publish", input=workouts(range(3, 8)))

    async def expire() -> None:  # what retention does: the log now starts at offset 6
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
        await admin.start()
        try:
            await admin.delete_records(
                {TopicPartition(settings.topic_workouts, 0): RecordsToDelete(6)}
            )
        finally:
            await admin.close()

    asyncio.run(expire())
    second = Service(settings, tmp_path / "second.log", "consume")
    code = second.proc.wait(60)
    second.stop()
    assert code == 3, second.log()
    assert "coach replay" in second.log() and f"{settings.topic_workouts}/0@3" in second.log()
    assert stats(settings)["workouts"] == 3  # nothing applied past the gap
