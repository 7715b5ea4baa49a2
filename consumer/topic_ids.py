"""Kafka topic ids: a topic deleted and created again under the same name has a new one.

Its offsets start again from 0, so an offset stored for the old topic means nothing in the
new one; refilled past it, the new topic would be read on from there without an error.
The id tells. aiokafka (0.14) asks for metadata with versions up to 5, which carry no id;
Metadata v10+ does (Kafka 2.8+). `MetadataRequest_v12` below is that request, built with
aiokafka's flexible (compact) protocol types and sent with the client's own `send()`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from io import BytesIO
from typing import Any

from aiokafka.client import ConnectionGroup
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)

METADATA = 3
NO_ID = bytes(16)
"""The id of no topic (and what a broker without topic ids answers)."""


class Uuid(AbstractType[bytes]):
    """A Kafka UUID: 16 raw bytes."""

    @classmethod
    def encode(cls, value: bytes) -> bytes:
        assert len(value) == 16
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        value = data.read(16)
        if len(value) != 16:
            raise ValueError("Buffer underrun decoding a UUID")
        return value


class MetadataResponse_v12(Response):
    API_KEY = METADATA
    API_VERSION = 12
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("tags", TaggedFields),
    )


class MetadataRequest_v12(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = METADATA
    API_VERSION = 12
    RESPONSE_TYPE = MetadataResponse_v12
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_id", Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("allow_auto_topic_creation", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class TopicIdsRequest(Request[MetadataRequest_v12]):
    """Metadata of the named topics, with their ids (never creates a topic)."""

    API_KEY = METADATA

    def __init__(self, topics: Iterable[str]) -> None:
        self._topics = sorted(topics)

    def build(self, request_struct_class: type[MetadataRequest_v12]) -> MetadataRequest_v12:
        return request_struct_class([(NO_ID, t, {}) for t in self._topics], False, False, {})


def parse(response: Any) -> dict[str, bytes]:
    """topic -> id, for the topics the response found (pure). A topic that answered with an
    error is left out: one that does not exist, and one without a leader for the moment (a
    broker restarting), which the heartbeat's other metadata request reports as unavailable
    (consumer/kafka.py `unavailable_topics`), not the broker as unreachable."""
    return {
        name: topic_id
        for error_code, name, topic_id, *_ in response.topics
        if error_code == 0 and topic_id != NO_ID
    }


async def fetch(client: Any, topics: Iterable[str]) -> dict[str, bytes]:
    """The ids of `topics` that exist, asked of any broker with aiokafka's `client`.

    Sent on the client's coordination connection: on the default one it would wait behind
    the consumer's long-polling fetch (up to fetch.max.wait.ms, 500 ms), stalling the loop.
    Raises NotImplementedError when the broker knows no Metadata v12 (Kafka before 2.8:
    no topic ids), a KafkaError when it cannot be asked."""
    node = client.get_random_node()
    return parse(
        await client.send(node, TopicIdsRequest(topics), group=ConnectionGroup.COORDINATION)
    )


def recreated(stored: Mapping[str, bytes], current: Mapping[str, bytes]) -> list[str]:
    """The topics whose id is not the one stored: deleted and created again (pure)."""
    return sorted(t for t, topic_id in current.items() if t in stored and stored[t] != topic_id)
