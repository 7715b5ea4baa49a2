"""Reading the compacted exercises topic again from its start when the projection's stored
position there may have outlived the topic's tombstones (store/shelf_life.py says why).

Checked each time the consumer connects, before it seeks to the stored offsets: the topic's
`delete.retention.ms` is read from the broker (DescribeConfigs), and a projection last
caught up with the topic longer ago than that, less `MARGIN_US`, forgets its catalog and
reads the topic from the start. A replica keeps starting, whatever the age of its file.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Awaitable, Callable

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import NoError, UnknownTopicOrPartitionError, for_code

from config.kafka import client_options
from config.settings import Settings
from store import shelf_life
from store.db import transaction
from store.instants import now_us

log = logging.getLogger(__name__)

DELETE_RETENTION = "delete.retention.ms"
MARGIN_US = 60_000_000
"""Taken off the tombstones' lifetime: the high watermark a heartbeat compares with is up to
a poll and a heartbeat old, and the replica's clock may differ from the one that stamped."""


def outlived(caught_up_at_us: int | None, now_us: int, delete_retention_ms: int) -> bool:
    """Whether a tombstone written after the projection was last caught up may be gone by
    `now_us` (never caught up: it may)."""
    if caught_up_at_us is None:
        return True
    return now_us - caught_up_at_us >= delete_retention_ms * 1000 - MARGIN_US


async def delete_retention_ms(settings: Settings, topic: str) -> int | None:
    """The topic's `delete.retention.ms` as the broker has it (None: no such topic; 0 when
    the broker will not tell). Raises KafkaError when the broker cannot be reached."""
    admin = AIOKafkaAdminClient(**client_options(settings), client_id="coach-consumer-admin")
    await admin.start()
    try:
        [response] = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {DELETE_RETENTION: None})]
        )
    finally:
        await admin.close()
    [(code, message, _type, _name, entries)] = response.resources
    error = for_code(code)
    if error is UnknownTopicOrPartitionError:
        return None
    if error is NoError:
        values = {entry[0]: entry[1] for entry in entries}
        if values.get(DELETE_RETENTION) is not None:
            return int(values[DELETE_RETENTION])
    # Not allowed to describe the topic (an ACL without DescribeConfigs), or no value: the
    # lifetime is unknown, so assume none (the catalog is read again: cheap, and right).
    log.warning(
        "could not read %s of topic %s (%s: %s): the catalog is read again from the topic's "
        "start; grant DescribeConfigs on the topic to avoid it",
        DELETE_RETENTION,
        topic,
        error.__name__,
        message or "no value",
    )
    return 0


async def reread_if_outlived(
    conn: sqlite3.Connection, settings: Settings, drain: Callable[[], Awaitable[object]]
) -> bool:
    """Forget the catalog (the exercises topic is then read from its start) when the
    projection's position there may have outlived the topic's tombstones; True if it did.
    `drain` lets the batches in hand be stored first."""
    topic = settings.topic_exercises
    if not shelf_life.has_offsets(conn, topic):
        return False  # read from the start anyway
    lifetime = await delete_retention_ms(settings, topic)
    caught_up = shelf_life.caught_up_at_us(conn, topic)
    if lifetime is None or not outlived(caught_up, now_us(), lifetime):
        return False
    await drain()
    with transaction(conn):
        forgotten = shelf_life.forget_catalog(conn, topic=topic)
    age = "never" if caught_up is None else f"{(now_us() - caught_up) / 3.6e9:.1f} h ago"
    log.warning(
        "the projection was last caught up with %s %s, longer than its tombstones live "
        "(%s=%d): its catalog (%d exercises) is rebuilt from the topic's start",
        topic,
        age,
        DELETE_RETENTION,
        lifetime,
        forgotten,
    )
    return True
