"""The stamp of the last time the projection was caught up with each topic, and forgetting
the catalog so that its topic is read again (store/shelf_life.py), on a real SQLite file.
Topics "ex" and "wo" as the `project` fixture writes them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from store import reads, shelf_life, writes
from store.db import connect, transaction
from store.rows import PositionRow
from tests.factories import completed, exercise_deleted, upserted


def _heartbeat(db: Path, rows: list[tuple[str, int, int, int | None]], now: int) -> None:
    """What the consumer's heartbeat records: the stamps as of the previous heartbeat, the
    assigned partitions (topic, partition, start, high watermark), the stamps as of now."""
    conn = connect(db)
    with transaction(conn):
        shelf_life.mark_caught_up(conn)
        writes.save_assigned(conn, rows=rows, now_us=now)
        shelf_life.mark_caught_up(conn)
    conn.close()


def _read(db: Path, topic: str, next_offset: int) -> None:
    conn = connect(db)
    with transaction(conn):
        writes.save_positions(
            conn, positions=[PositionRow(topic, 0, next_offset, None, None)], now_us=1
        )
    conn.close()


def _stamps(db: Path) -> tuple[int | None, int | None]:
    conn = connect(db)
    try:
        return shelf_life.caught_up_at_us(conn, "ex"), shelf_life.caught_up_at_us(conn, "wo")
    finally:
        conn.close()


def test_a_topic_is_stamped_only_when_every_partition_is_read_to_its_high_watermark(
    settings, project
):
    """ex/0 read to 2 of 2 and ex/1 never read but empty: stamped; wo/0 read to 1 of 3 is
    not, until its high watermark is reached; a later heartbeat behind keeps the stamp."""
    project([upserted(1), upserted(2), completed("w1", "u", datetime.now(UTC), [(1, 5.0, 5)])])
    _heartbeat(settings.db_path, [("ex", 0, 0, 2), ("ex", 1, 0, 0), ("wo", 0, 0, 3)], now=100)
    assert _stamps(settings.db_path) == (100, None)
    _heartbeat(settings.db_path, [("ex", 0, 0, 5), ("ex", 1, 0, 0), ("wo", 0, 0, 1)], now=200)
    assert _stamps(settings.db_path) == (100, 200)  # ex behind at 200: its stamp stays
    _heartbeat(settings.db_path, [("ex", 0, 0, 2), ("ex", 1, 0, None)], now=300)
    assert _stamps(settings.db_path) == (100, 200)  # a high watermark unknown: not stamped


def test_a_topic_written_without_pause_is_stamped_as_of_the_previous_heartbeat(settings, project):
    """Each heartbeat finds a new record not read yet, but the one before it read: the
    projection was caught up as of the previous heartbeat."""
    project([upserted(1)])
    _heartbeat(settings.db_path, [("ex", 0, 0, 2)], now=100)
    assert _stamps(settings.db_path)[0] is None
    _read(settings.db_path, "ex", 2)
    _heartbeat(settings.db_path, [("ex", 0, 0, 3)], now=200)
    assert _stamps(settings.db_path)[0] == 100
    _read(settings.db_path, "ex", 3)
    _heartbeat(settings.db_path, [("ex", 0, 0, 4)], now=300)
    assert _stamps(settings.db_path)[0] == 200


def test_forgetting_the_catalog_clears_it_and_its_topics_positions_only(settings, project):
    """The exercises (deleted markers too), their topic's positions and stamp go, the
    catalog version moves; the other topic's positions stay."""
    project([upserted(1), upserted(2), exercise_deleted(3, revision=4)])
    project([completed("w1", "u", datetime.now(UTC), [(1, 5.0, 5)])])
    _heartbeat(settings.db_path, [("ex", 0, 0, 3), ("wo", 0, 0, 1)], now=100)
    conn = connect(settings.db_path)
    version = reads.catalog_version(conn)
    assert shelf_life.has_offsets(conn, "ex")
    with transaction(conn):
        assert shelf_life.forget_catalog(conn, topic="ex") == 3
    assert not shelf_life.has_offsets(conn, "ex")
    assert reads.positions(conn) == {("wo", 0): 1}
    assert reads.load_catalog(conn) == []
    assert conn.execute("SELECT count(*) FROM exercises").fetchone()[0] == 0
    assert reads.catalog_version(conn) > version
    assert shelf_life.caught_up_at_us(conn, "ex") is None
    assert shelf_life.caught_up_at_us(conn, "wo") == 100
    conn.close()
    # the next heartbeat stamps nothing from the forgotten positions of the last one
    _heartbeat(settings.db_path, [("ex", 0, 0, 3), ("wo", 0, 0, 1)], now=200)
    assert _stamps(settings.db_path) == (None, 200)
