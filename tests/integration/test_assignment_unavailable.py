"""A topic that exists but answers the heartbeat's metadata request with an error (no leader:
a broker stopping, or a topic just created) is neither "missing" nor dropped from the
assignment (consumer/assignment.py). Before, aiokafka's ClusterMetadata left it out, so the
consumer unassigned its partitions and /lag said "topic ... does not exist yet" until the
next answer; during a broker outage that stayed beside "broker unreachable" (the runbook's
broker-outage check failed on it in CI).

The broker here is a stand-in answering with real Metadata v5 responses: a real broker
answers LEADER_NOT_AVAILABLE only for a moment that cannot be timed. The projection is a
real SQLite file."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from aiokafka.cluster import BrokerMetadata
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataResponse_v5

from consumer.assignment import Assignment
from consumer.health import Health
from store.db import connect

ROLES: dict[str, Any] = {"ex": "exercises", "wo": "workouts", "er": "erasures"}
NO_LEADER = 5  # LEADER_NOT_AVAILABLE
UNKNOWN = 3  # UNKNOWN_TOPIC_OR_PARTITION


def _response(errors: dict[str, int]) -> MetadataResponse_v5:
    topics = []
    for topic in sorted(ROLES):
        code = errors.get(topic, 0)
        partitions: list[tuple[int, int, int, list[int], list[int], list[int]]] = (
            [] if code else [(0, 0, 1, [1], [1], [])]
        )
        topics.append((code, topic, False, partitions))
    return MetadataResponse_v5(0, [(1, "localhost", 9092, None)], "cluster", 1, topics)


class Client:
    """aiokafka's client as topic_metadata uses it: the brokers known, and send()."""

    def __init__(self) -> None:
        self.answer: MetadataResponse_v5 | Exception = _response({})

    class cluster:  # aiokafka's attribute name
        @staticmethod
        def brokers() -> set[BrokerMetadata]:
            return {BrokerMetadata(1, "localhost", 9092, None)}

    async def send(self, node: int, request: Any, group: Any = None) -> MetadataResponse_v5:
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class Consumer:
    """The consumer's calls an assignment makes once every partition is assigned: none may
    be made while a topic is only unavailable."""

    def __init__(self) -> None:
        self._client = Client()

    def assign(self, partitions: list[TopicPartition]) -> None:
        raise AssertionError(f"assigned again, to {partitions}: a partition was dropped")


def _assigned() -> set[TopicPartition]:
    return {TopicPartition(t, 0) for t in ROLES}


async def _drain() -> None:
    return None


def test_a_topic_without_a_leader_keeps_its_partitions_and_is_not_called_missing(
    db_path: Path,
) -> None:
    conn = connect(db_path)
    health = Health()
    assignment = Assignment(ROLES, health)
    assignment._without_topic_ids = True  # the stand-in answers Metadata v5 only
    assignment.assigned = _assigned()
    consumer = Consumer()
    consumer._client.answer = _response({"wo": NO_LEADER, "er": NO_LEADER})
    try:
        asyncio.run(assignment.refresh(consumer, conn, _drain))  # type: ignore[arg-type]
    finally:
        conn.close()
    assert assignment.assigned == _assigned()
    assert health.reachable
    assert health.missing_topics == []
    assert health.summary() == (
        "topic er unavailable (LeaderNotAvailableError); "
        "topic wo unavailable (LeaderNotAvailableError)"
    )


def test_an_unknown_topic_is_missing_and_an_outage_forgets_what_was_said_of_topics(
    db_path: Path,
) -> None:
    """The runbook's broker-outage check: while the broker is away, /lag says that alone."""
    conn = connect(db_path)
    health = Health()
    assignment = Assignment(ROLES, health)
    assignment._without_topic_ids = True
    assignment.assigned = {TopicPartition("ex", 0), TopicPartition("wo", 0)}
    consumer = Consumer()
    consumer._client.answer = _response({"er": UNKNOWN, "wo": NO_LEADER})
    try:
        asyncio.run(assignment.refresh(consumer, conn, _drain))  # type: ignore[arg-type]
        assert health.summary() == (
            "topic er does not exist yet; topic wo unavailable (LeaderNotAvailableError)"
        )
        consumer._client.answer = KafkaConnectionError("Unable to bootstrap")
        asyncio.run(assignment.refresh(consumer, conn, _drain))  # type: ignore[arg-type]
    finally:
        conn.close()
    assert health.summary() == "broker unreachable (KafkaConnectionError)"
