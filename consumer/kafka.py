"""What the consumer and the replay need of aiokafka beyond its API: stopping a consumer
cleanly, the metadata of coach's topics, the partitions' positions, and the errors that
stop the consumer for good."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Iterable
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.client import ConnectionGroup
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NoError,
    OffsetOutOfRangeError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.protocol.metadata import MetadataRequest

log = logging.getLogger(__name__)


class OutOfRetention(Exception):
    """A stored offset is no longer in its topic: the projection must be rebuilt."""


class TopicRecreated(OutOfRetention):
    """A topic was deleted and created again: its offsets started again, and those stored
    belong to the old topic. The projection must be rebuilt."""


async def close_consumer(consumer: AIOKafkaConsumer) -> None:
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        # aiokafka's stop() can re-raise the cancellation of one of its own tasks when it
        # is stopped right after start(); only a cancellation of ours must propagate.
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
        log.debug("ignored a CancelledError from aiokafka's own shutdown")
    except KafkaError as exc:
        log.warning("error while closing the Kafka consumer: %s", exc)


class TopicMetadata(NamedTuple):
    """A metadata answer for coach's topics. `cluster` holds the partitions of the topics
    the broker could describe; `unavailable` names each topic that exists but answered with
    an error (a leader not yet elected, or gone while the broker stops) and that error's
    class. A topic in neither does not exist."""

    cluster: ClusterMetadata
    unavailable: dict[str, str]


def unavailable_topics(response: Any) -> dict[str, str]:
    """topic -> error class, for each topic of a MetadataResponse that answered with an
    error other than "unknown topic" (pure). aiokafka's ClusterMetadata leaves such a topic
    out, as if it did not exist."""
    found = {}
    for error_code, topic, *_ in response.topics:
        error = for_code(error_code)
        if error is not NoError and error is not UnknownTopicOrPartitionError:
            found[topic] = error.__name__
    return found


async def topic_metadata(client: Any, topics: Iterable[str]) -> TopicMetadata:
    """The brokers and the partitions of `topics` (those that exist; none is created), and
    which of them are unavailable, asked of the first broker of aiokafka's `client` that
    answers.

    Not aiokafka's `fetch_all_metadata()`: that asks for every topic of the cluster, and on
    the default connection, where it waits behind the consumer's fetch. On a broker of 935
    topics it took 55-300 ms, during which the consume loop took no record (issue 28: the
    publish-to-WOD p99). This asks for coach's topics on the coordination connection."""
    request = MetadataRequest(sorted(topics), allow_auto_topic_creation=False)
    nodes = [broker.nodeId for broker in client.cluster.brokers()]
    random.shuffle(nodes)
    error: Exception = KafkaConnectionError("no broker is known")
    for node in nodes:
        try:
            response = await client.send(node, request, group=ConnectionGroup.COORDINATION)
        except KafkaError as exc:
            error = exc
            continue
        cluster = ClusterMetadata()
        # a topic that does not exist is simply not in the result (the caller says which are
        # missing); aiokafka would log an error for it at every refresh
        cluster.need_all_topic_metadata = True
        cluster.update_metadata(response)
        return TopicMetadata(cluster, unavailable_topics(response))
    raise error


async def positions_of(
    consumer: AIOKafkaConsumer, partitions: Iterable[TopicPartition]
) -> dict[TopicPartition, int]:
    """Each partition's position (waits for those sought to the beginning to be resolved)."""
    return {tp: await consumer.position(tp) for tp in partitions}


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or until `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def retention_message(exc: OffsetOutOfRangeError) -> str:
    where: Iterable[str] = (f"{tp.topic}/{tp.partition}@{off}" for tp, off in exc.args[0].items())
    return (
        "stored offset(s) " + ", ".join(where) + " are no longer in the topic (removed by "
        "retention, or the topic was recreated). The projection cannot be continued: "
        "rebuild it from the topics with `coach replay` (a snapshot this old cannot be "
        "started from either: take a new one)."
    )


def _replay_hint() -> str:
    return "The projection cannot be continued: rebuild it from the topics with `coach replay`."


def beyond_message(beyond: dict[tuple[str, int], tuple[int, int]]) -> str:
    where = ", ".join(
        f"{t}/{p}@{off} (the partition ends at {end})" for (t, p), (off, end) in beyond.items()
    )
    return (
        f"stored offset(s) {where} are past the end of their partition: the topic was "
        "deleted and created again. " + _replay_hint()
    )


def recreated_message(topics: list[str]) -> str:
    return (
        f"topic(s) {', '.join(topics)} were deleted and created again, or the projection was "
        "read from another cluster (their topic id is not the one the projection was read "
        "from): the stored offsets belong to another topic. " + _replay_hint()
    )


def missing_message(partitions: list[tuple[str, int]]) -> str:
    where = ", ".join(f"{t}/{p}" for t, p in partitions)
    return (
        f"the projection holds offsets of partition(s) {where}, which the topic does not "
        "have: it was read from another topic of the same name (deleted and created again "
        "with fewer partitions, or on another cluster). " + _replay_hint()
    )
