"""The records the consumer reads: aiokafka's, or built by hand."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class KafkaRecord(Protocol):
    """The parts of a Kafka record the projection uses (aiokafka's ConsumerRecord has them)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def timestamp(self) -> int | None: ...  # milliseconds since the epoch
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...  # binary-mode CloudEvents use them


@dataclass(frozen=True, slots=True)
class Record:
    """A KafkaRecord built by hand (tests, dead-letter retries)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp: int | None = None
    headers: Sequence[tuple[str, bytes]] = ()
