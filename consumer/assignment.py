"""Which partitions the consumer reads and from where: every partition of the three topics,
assigned by hand (no consumer group), each sought to the offset stored in the projection.
Also what is known of each partition for the heartbeat (start, high watermark).

Erasures first: whenever partitions are assigned and the erasures topic is not read to the
end it had then (a new projection, a projection made before the topic existed, which reads
it from its start, or a consumer that was down), the other partitions are paused until it
is. So a projection never holds, even for a moment, a workout of a user whose erasure is
in the topic (docs/PRIVACY.md); afterwards all partitions are read together."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Mapping

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import IncompatibleBrokerVersion, KafkaError

from consumer import topic_ids
from consumer.bootstrap import missed_records
from consumer.health import Health
from consumer.kafka import (
    OutOfRetention,
    TopicRecreated,
    beyond_message,
    missing_message,
    positions_of,
    recreated_message,
    topic_metadata,
)
from consumer.positions import beyond_end
from events.codec import Role
from store import reads, writes
from store.db import transaction
from store.instants import now_us

log = logging.getLogger(__name__)

METADATA_TIMEOUT_SECONDS = 5.0


class Assignment:
    def __init__(self, roles: Mapping[str, Role], health: Health) -> None:
        self.roles = roles
        self.health = health
        self.assigned: set[TopicPartition] = set()
        # Per assigned partition: the next offset handed to the writer (or where reading
        # started), where reading started, and its end offset when it was assigned.
        self.positions: dict[TopicPartition, int] = {}
        self.starts: dict[TopicPartition, int] = {}
        self.ends: dict[TopicPartition, int] = {}
        self.erasures_to_read: dict[TopicPartition, int] = {}
        """Erasure partitions still to read to these offsets before the others resume."""
        self._without_topic_ids = False

    async def refresh(
        self,
        consumer: AIOKafkaConsumer,
        conn: sqlite3.Connection,
        drain: Callable[[], Awaitable[object]],
    ) -> None:
        """Assign every partition of both topics, picking up partitions added while running;
        raise TopicRecreated when a topic is not the one the projection was read from.
        `drain` lets the batches in hand be stored before the partitions are sought.

        This metadata request doubles as the broker reachability check.
        """
        try:
            cluster, unavailable = await asyncio.wait_for(
                topic_metadata(consumer._client, self.roles), METADATA_TIMEOUT_SECONDS
            )
            await self._check_topic_ids(consumer, conn)
        except (KafkaError, TimeoutError) as exc:
            self.health.unreachable(exc)
            return
        self.health.reached()
        self.health.unavailable_topics = unavailable
        self.health.missing_topics = [
            t for t in self.roles if not cluster.partitions_for_topic(t) and t not in unavailable
        ]
        if unavailable:
            # A topic exists but answered with an error (no leader for the moment): the
            # assignment stays as it is, whatever it is, until every topic answers. Never a
            # new one without that topic's partitions: were it the erasures topic, the
            # others would be read before its erasures (docs/PRIVACY.md); and its
            # partitions cannot be positioned without a leader.
            return
        wanted = {
            TopicPartition(topic, p)
            for topic in self.roles
            for p in cluster.partitions_for_topic(topic) or ()
        }
        if wanted == self.assigned:
            return
        gone = [
            key
            for key in reads.positions(conn)
            if key[0] in self.roles
            and cluster.partitions_for_topic(key[0])
            and TopicPartition(*key) not in wanted
        ]
        if gone:  # partitions never go away: this is another topic of the same name
            raise TopicRecreated(missing_message(sorted(gone)))
        await drain()
        stored = reads.positions(conn)
        # assign() resets every partition's position: seek them all to what is stored
        # (every batch fetched so far has been applied, so that is where reading stopped).
        consumer.assign(sorted(wanted))
        from_start = []
        for tp in wanted:
            offset = stored.get((tp.topic, tp.partition))
            if offset is None:
                from_start.append(tp)
            else:
                consumer.seek(tp, offset)
        if from_start:
            await consumer.seek_to_beginning(*from_start)
        try:
            # Where each partition's reading starts (asks the broker for the beginnings),
            # and where each ends.
            self.positions = await asyncio.wait_for(
                positions_of(consumer, wanted), METADATA_TIMEOUT_SECONDS
            )
            ends = await asyncio.wait_for(
                consumer.end_offsets(sorted(wanted)), METADATA_TIMEOUT_SECONDS
            )
        except (KafkaError, TimeoutError) as exc:
            self.health.unreachable(exc)
            self.assigned = set()  # assign again at the next heartbeat
            return
        started = {(tp.topic, tp.partition): self.positions[tp] for tp in from_start}
        why = missed_records(conn, started, stored)
        if why is not None:
            raise OutOfRetention(why)
        beside = {tp: o for tp, o in started.items() if tp[0] in {t for t, _ in stored}}
        if beside:
            log.warning(
                "no stored offset for partition(s) %s although other partitions of their "
                "topic were read: read from their beginning",
                ", ".join(f"{t}/{p} (from offset {o})" for (t, p), o in sorted(beside.items())),
            )
        self.starts = dict(self.positions)
        self.ends = dict(ends)
        beyond = beyond_end(
            {(tp.topic, tp.partition): n for tp, n in self.positions.items()},
            {(tp.topic, tp.partition): n for tp, n in ends.items()},
        )
        if beyond:
            raise TopicRecreated(beyond_message(beyond))
        log.info(
            "assigned %d partitions (%d new, %d read from the beginning)",
            len(wanted),
            len(wanted - self.assigned),
            len(from_start),
        )
        self.assigned = wanted
        self._erasures_first(consumer)

    def _erasures_first(self, consumer: AIOKafkaConsumer) -> None:
        """Pause every partition but the erasures' while those are behind their ends."""
        self.erasures_to_read = {
            tp: self.ends[tp]
            for tp in self.assigned
            if self.roles.get(tp.topic) == "erasures" and self.positions[tp] < self.ends[tp]
        }
        if self.erasures_to_read:
            consumer.pause(*(tp for tp in self.assigned if tp not in self.erasures_to_read))
            log.info(
                "reading %d erasure records before the other topics",
                sum(end - self.positions[tp] for tp, end in self.erasures_to_read.items()),
            )

    def resume_after_erasures(self, consumer: AIOKafkaConsumer) -> None:
        """Resume the other partitions once the erasures are handed to the writer (which
        commits batches in order: the erasures before any later record)."""
        if self.erasures_to_read and all(
            self.positions.get(tp, 0) >= end for tp, end in self.erasures_to_read.items()
        ):
            self.erasures_to_read = {}
            consumer.resume(*consumer.paused())
            log.info("erasures read; reading every topic")

    async def _check_topic_ids(self, consumer: AIOKafkaConsumer, conn: sqlite3.Connection) -> None:
        """Raise TopicRecreated when a topic's id is not the one stored; store the ids of
        topics seen for the first time (consumer/topic_ids.py)."""
        if self._without_topic_ids:
            return
        try:
            current = await asyncio.wait_for(
                topic_ids.fetch(consumer._client, self.roles), METADATA_TIMEOUT_SECONDS
            )
        except (NotImplementedError, IncompatibleBrokerVersion) as exc:
            log.warning(
                "the broker has no topic ids (Metadata v12, Kafka 2.8+: %s); a topic deleted "
                "and created again is noticed only while it holds fewer records than read",
                exc,
            )
            self._without_topic_ids = True
            return
        stored = reads.topic_ids(conn)
        changed = topic_ids.recreated(stored, current)
        if changed:
            raise TopicRecreated(recreated_message(changed))
        new = [(t, i) for t, i in current.items() if t not in stored]
        if new:
            with transaction(conn):
                writes.save_topic_ids(conn, ids=new, now_us=now_us())

    def _high(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
        """The partition's high watermark: the last fetched, else its end when assigned."""
        high = consumer.highwater(tp)
        return self.ends.get(tp) if high is None else high

    def high_watermarks(self, consumer: AIOKafkaConsumer) -> list[tuple[int, str, int]]:
        highs = []
        for tp in self.assigned:
            high = self._high(consumer, tp)
            if high is not None:
                highs.append((high, tp.topic, tp.partition))
        return highs

    def rows(self, consumer: AIOKafkaConsumer) -> list[tuple[str, int, int, int | None]]:
        """Every assigned partition: topic, partition, start offset, high watermark."""
        return [
            (tp.topic, tp.partition, self.starts[tp], self._high(consumer, tp))
            for tp in sorted(self.assigned)
        ]
