"""A projection file older than the exercises topic's tombstones (a snapshot started after
the log cleaner dropped a tombstone it never saw): the consumer reads the compacted topic
again from its start, so the deleted exercise is not served; a file caught up recently is
read on from its offsets (see also test_snapshot.py, which counts the records read)."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from config.settings import Settings
from store import shelf_life
from tests.e2e.compaction import compact_until, end_offsets, fast_compaction, set_topic_configs
from tests.e2e.helpers import Service, coach, free_port, produce_raw, wait_for
from tests.factories import key_of, upserted, value_of

pytestmark = pytest.mark.broker


def _catalog(db: Path) -> dict[int, int]:
    """id -> revision of the live exercises in the projection at `db`."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return dict(conn.execute("SELECT id, revision FROM exercises WHERE deleted = 0"))
    finally:
        conn.close()


def _meta(db: Path, name: str) -> int | None:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else int(row[0])
    except sqlite3.OperationalError:
        return None
    finally:
        conn.close()


def _read_to(db: Path, ends: dict[tuple[str, int], int]) -> bool:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        stored = dict(
            ((t, p), o)
            for t, p, o in conn.execute("SELECT topic, partition, next_offset FROM partitions")
        )
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()
    return all(stored.get(tp, 0) >= n for tp, n in ends.items())


def _publish(settings: Settings, events: list[dict[str, Any]]) -> None:
    produce_raw(settings, [(settings.topic_exercises, key_of(e), value_of(e)) for e in events])


def _wod_ids(port: int, token: str) -> list[int]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/fitness/wod?tz=UTC&fresh=true")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return sorted(e["id"] for e in json.loads(response.read())["exercises"])


def test_a_snapshot_started_after_the_cleaner_dropped_a_tombstone_does_not_serve_it(
    kafka_settings: Settings, tmp_path: Path
):
    """Replica A catches up with 8 exercises and is snapshotted; exercise 3 then gets a
    tombstone, which A applies. The cleaner compacts the topic (its own, tombstones kept 1 s)
    until neither exercise 3's upsert nor its tombstone is left. Replica B started on the
    snapshot rebuilds its catalog from the topic's start: it never serves exercise 3, and
    ends with A's catalog."""
    settings = kafka_settings.model_copy(
        update={"topic_partitions": 1, "db_path": tmp_path / "a" / "coach.db", "wod_size": 50}
    )
    coach(settings, "topics", "create")
    set_topic_configs(
        settings.kafka_bootstrap_servers, settings.topic_exercises, fast_compaction(1000)
    )
    _publish(settings, [upserted(i) for i in range(1, 9)])
    a = Service(settings, tmp_path / "a.log", "consume")
    dest = tmp_path / "b" / "snapshot.db"
    mark = shelf_life.CAUGHT_UP_AT + settings.topic_exercises
    try:
        wait_for(
            "A caught up (the catalog, and the heartbeat that says so)",
            lambda: len(_catalog(settings.db_path)) == 8 and _meta(settings.db_path, mark),
            60,
            a,
        )
        coach(settings, "snapshot", str(dest))
        produce_raw(settings, [(settings.topic_exercises, b"3", None)])  # the tombstone
        wait_for("A applied the tombstone", lambda: 3 not in _catalog(settings.db_path), 60, a)

        revisions = iter(range(2, 100_000))

        def write() -> None:  # edits of exercise 50: roll the segment, dirty the log
            _publish(settings, [upserted(50, revision=next(revisions))])

        compact_until(
            settings.kafka_bootstrap_servers,
            settings.topic_exercises,
            lambda held: b"3" not in [k for k, _ in held],
            write,
        )
        ends = end_offsets(settings.kafka_bootstrap_servers, settings.topic_exercises)
        wait_for("A read the exercises topic", lambda: _read_to(settings.db_path, ends), 60, a)
        assert _catalog(dest).keys() == set(range(1, 9))  # the snapshot predates the tombstone

        b_settings = settings.model_copy(update={"db_path": dest})
        port = free_port()
        b = Service(b_settings, tmp_path / "b.log", "run", "--port", str(port))
        try:
            wait_for("B read the exercises topic", lambda: _read_to(dest, ends), 60, b)
            token = coach(settings, "token", "--sub", "u1").stdout.decode().strip()
            served = wait_for("B's WOD", lambda: _wod_ids(port, token), 60, b)
        finally:
            assert b.stop() == 0, b.log()
        assert 3 not in served
        assert served == sorted(_catalog(settings.db_path)) == [1, 2, 4, 5, 6, 7, 8, 50]
        assert _catalog(dest) == _catalog(settings.db_path)
        assert "rebuilt from the topic's start" in b.log(), b.log()
    finally:
        assert a.stop() == 0, a.log()


def test_a_replica_back_after_an_outage_longer_than_the_tombstones_reads_the_catalog_again(
    kafka_settings: Settings, tmp_path: Path, own_broker
):
    """A running replica that could not reach the broker for longer than the exercises
    topic's tombstones live (here 1 s; a network partition of a day in production) may have
    missed a tombstone for good: once the broker answers again it rebuilds its catalog from
    the topic's start, and ends with the same catalog."""
    broker, home, port, bootstrap = own_broker
    settings = kafka_settings.model_copy(
        update={"kafka_bootstrap_servers": bootstrap, "topic_partitions": 1}
    )
    coach(settings, "topics", "create")
    set_topic_configs(bootstrap, settings.topic_exercises, fast_compaction(1000))
    _publish(settings, [upserted(i) for i in range(1, 5)])
    consumer = Service(settings, tmp_path / "consume.log", "consume")
    mark = shelf_life.CAUGHT_UP_AT + settings.topic_exercises
    try:
        wait_for(
            "caught up",
            lambda: len(_catalog(settings.db_path)) == 4 and _meta(settings.db_path, mark),
            60,
            consumer,
        )
        assert "rebuilt from the topic's start" not in consumer.log()
        broker.stop(home=home, quiet=True)
        time.sleep(3)
        broker.start(port=port, home=home, quiet=True)
        wait_for(
            "the catalog read again",
            lambda: "rebuilt from the topic's start" in consumer.log(),
            90,
            consumer,
        )
        wait_for("the catalog back", lambda: len(_catalog(settings.db_path)) == 4, 60, consumer)
    finally:
        assert consumer.stop() == 0, consumer.log()
