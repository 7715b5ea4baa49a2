"""A topic that exists but answers the heartbeat's metadata request with an error (no leader:
a broker stopping, or a topic just created) is neither "missing" nor dropped from the
assignment (consumer/assignment.py). Before, aiokafka's ClusterMetadata left it out, so the
consumer unassigned its partitions and /lag said "topic ... does not exist yet" until the
next answer; during a broker outage that stayed beside "broker unreachable" (the runbook's
broker-outage check failed on it in CI).

While a topic is unavailable the assignment is not changed at all: were the erasures topic
the one without a leader, a new assignment without it would read the workouts before its
erasures (docs/PRIVACY.md). And the topic-id request (Metadata v12, Kafka 2.8+) leaves such
a topic out instead of failing the heartbeat as "broker unreachable".

The broker here is a stand-in answering with real Metadata v5 and v12 responses: a real
broker answers LEADER_NOT_AVAILABLE only for a moment that cannot be timed. The projection
is a real SQLite file."""

from __future__ import annotations

import asyncio
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.cluster import BrokerMetadata
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataResponse_v5

from consumer.assignment import Assignment
from consumer.health import Health
from consumer.topic_ids import NO_ID, MetadataResponse_v12, TopicIdsRequest
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


def _ids_response(errors: dict[str, int]) -> MetadataResponse_v12:
    """The topic-id request's answer (consumer/topic_ids.py), as Kafka 2.8+ gives it."""
    topics: list[tuple[Any, ...]] = []
    for topic in sorted(ROLES):
        code = errors.get(topic, 0)
        topic_id = NO_ID if code else topic.encode().ljust(16, b"-")
        topics.append((code, topic, topic_id, False, [], -2147483648, {}))
    response = MetadataResponse_v12(0, [(1, "localhost", 9092, None, {})], "c", 1, topics, {})
    return MetadataResponse_v12.decode(BytesIO(response.encode()))


class Client:
    """aiokafka's client as topic_metadata and topic_ids use it: the brokers, send()."""

    def __init__(self) -> None:
        self.errors: dict[str, int] = {}
        self.down: Exception | None = None

    class cluster:  # aiokafka's attribute name
        @staticmethod
        def brokers() -> set[BrokerMetadata]:
            return {BrokerMetadata(1, "localhost", 9092, None)}

    @staticmethod
    def get_random_node() -> int:
        return 1

    async def send(self, node: int, request: Any, group: Any = None) -> Any:
        if self.down is not None:
            raise self.down
        if isinstance(request, TopicIdsRequest):
            return _ids_response(self.errors)
        return _response(self.errors)


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


def _refresh(
    db_path: Path, assigned: set[TopicPartition], errors: dict[str, int], *, ids: bool = True
) -> tuple[Assignment, Health]:
    """One heartbeat's refresh, the topic ids asked for as on Kafka 2.8+ (production) unless
    `ids` is False (a broker before 2.8)."""
    conn = connect(db_path)
    health = Health()
    assignment = Assignment(ROLES, health)
    assignment._without_topic_ids = not ids
    assignment.assigned = set(assigned)
    consumer = Consumer()
    consumer._client.errors = errors
    try:
        asyncio.run(assignment.refresh(consumer, conn, _drain))  # type: ignore[arg-type]
    finally:
        conn.close()
    return assignment, health


def test_a_topic_without_a_leader_keeps_its_partitions_and_is_not_called_missing(
    db_path: Path,
) -> None:
    assignment, health = _refresh(db_path, _assigned(), {"wo": NO_LEADER, "er": NO_LEADER})
    assert assignment.assigned == _assigned()
    assert health.reachable  # the broker answered both requests
    assert health.missing_topics == []
    assert health.summary() == (
        "topic er unavailable (LeaderNotAvailableError); "
        "topic wo unavailable (LeaderNotAvailableError)"
    )


@pytest.mark.parametrize("ids", [True, False], ids=["topic ids", "no topic ids"])
def test_nothing_is_assigned_while_the_erasures_topic_has_no_leader(
    db_path: Path, ids: bool
) -> None:
    """After an error emptied the assignment (or at start): the workouts are not read
    before the erasures can be (Consumer.assign fails the test if it is called)."""
    assignment, health = _refresh(db_path, set(), {"er": NO_LEADER}, ids=ids)
    assert assignment.assigned == set()
    assert health.summary() == "topic er unavailable (LeaderNotAvailableError)"


def test_an_unknown_topic_is_missing_and_an_outage_forgets_what_was_said_of_topics(
    db_path: Path,
) -> None:
    """The runbook's broker-outage check: while the broker is away, /lag says that alone."""
    conn = connect(db_path)
    health = Health()
    assignment = Assignment(ROLES, health)
    assignment.assigned = {TopicPartition("ex", 0), TopicPartition("wo", 0)}
    consumer = Consumer()
    consumer._client.errors = {"er": UNKNOWN, "wo": NO_LEADER}
    try:
        asyncio.run(assignment.refresh(consumer, conn, _drain))  # type: ignore[arg-type]
        assert health.summary() == (
            "topic er does not exist yet; topic wo unavailable (LeaderNotAvailableError)"
        )
        consumer._client.down = KafkaConnectionError("Unable to bootstrap")
        asyncio.run(assignment.refresh(consumer, conn, _drain))  # type: ignore[arg-type]
    finally:
        conn.close()
    assert health.summary() == "broker unreachable (KafkaConnectionError)"
