"""GET /ready's conditions (api/readiness.py): each failing one is named."""

from __future__ import annotations

from api.readiness import readiness_checks
from store.status import ConsumerRow, PartitionRow, Snapshot

S = 1_000_000
NOW = 1_800_000_000 * S


def snapshot(*, heartbeat_s: float | None = -1, lag: int | None = 0) -> Snapshot:
    high = None if lag is None else 100 + lag
    return Snapshot(
        (PartitionRow("t", 0, 100, high, NOW - S, NOW - S),),
        ConsumerRow(None if heartbeat_s is None else int(NOW + heartbeat_s * S), True, None),
        catalog_version=3,
    )


def failing(snap: Snapshot, catalog_size: int = 48, free_bytes: int | None = 10**9) -> list[str]:
    checks = readiness_checks(
        snapshot=snap,
        catalog_size=catalog_size,
        now_us=NOW,
        max_lag=1000,
        max_heartbeat_age_seconds=30,
        max_data_age_seconds=120,
        free_bytes=free_bytes,
    )
    assert [c.name for c in checks] == ["catalog", "heartbeat", "lag", "data_age", "storage"]
    assert all(c.detail for c in checks)
    return [c.name for c in checks if not c.ok]


def test_ready_when_everything_holds():
    assert failing(snapshot()) == []


def test_each_failing_condition_is_named():
    assert failing(snapshot(), catalog_size=0) == ["catalog"]
    assert failing(snapshot(heartbeat_s=-31)) == ["heartbeat"]
    assert failing(snapshot(heartbeat_s=None)) == ["heartbeat"]
    assert failing(snapshot(lag=1001)) == ["lag"]
    assert failing(snapshot(lag=None)) == ["lag"]
    assert failing(snapshot(), free_bytes=1024) == ["storage"]
    assert failing(snapshot(heartbeat_s=-60, lag=5000), catalog_size=0) == [
        "catalog",
        "heartbeat",
        "lag",
    ]


def test_the_limits_are_inclusive():
    assert failing(snapshot(heartbeat_s=-30, lag=1000)) == []


def stale(*, last_error: str | None, heartbeat_s: float = -1) -> Snapshot:
    """Caught up as of 200 s ago, when the consumer last confirmed its high watermarks."""
    return Snapshot(
        (PartitionRow("t", 0, 100, 100, NOW - 300 * S, NOW - 200 * S),),
        ConsumerRow(int(NOW + heartbeat_s * S), False, last_error),
        catalog_version=3,
    )


def test_a_broker_outage_is_degraded_never_failing_and_says_why():
    """Issue 33.1: however long the broker has been away, data_age holds but is reported
    degraded (the WOD keeps answering); the detail gives the age and the consumer's word."""
    lost = Snapshot(
        (PartitionRow("t", 0, 100, 100, NOW - 300 * S, NOW - 200 * S),),
        ConsumerRow(
            NOW - S,
            False,
            "broker unreachable (KafkaConnectionError)",
            broker_contact_at_us=NOW - 200 * S,
            broker_lost_at_us=NOW - 199 * S,
        ),
        catalog_version=3,
    )
    checks = readiness_checks(
        snapshot=lost,
        catalog_size=48,
        now_us=NOW,
        max_lag=1000,
        max_heartbeat_age_seconds=30,
        max_data_age_seconds=120,
        free_bytes=None,
    )
    by_name = {c.name: c for c in checks}
    assert [c.name for c in checks if not c.ok] == []
    assert [c.name for c in checks if c.degraded] == ["data_age"]
    assert "200 s ago" in by_name["data_age"].detail
    assert "broker unreachable" in by_name["data_age"].detail
    assert by_name["storage"].ok  # unknown free space does not fail


def test_a_quiet_night_then_a_broker_blip_keeps_the_replica_ready():
    """Issue 33.1: topics quiet for 2 minutes (last batch 127 s ago), the broker reached
    1 s before it went away: data age 1 s, and degraded, not failing."""
    snap = Snapshot(
        (PartitionRow("t", 0, 100, 100, NOW - 130 * S, NOW - 127 * S),),
        ConsumerRow(
            NOW - S // 2,
            False,
            "broker unreachable",
            broker_contact_at_us=NOW - S,
            broker_lost_at_us=NOW - S // 2,
        ),
        catalog_version=3,
    )
    checks = {
        c.name: c
        for c in readiness_checks(
            snapshot=snap,
            catalog_size=48,
            now_us=NOW,
            max_lag=1000,
            max_heartbeat_age_seconds=30,
            max_data_age_seconds=120,
            free_bytes=None,
        )
    }
    assert checks["data_age"].ok and checks["data_age"].degraded
    assert "until 1 s ago" in checks["data_age"].detail


def test_a_dead_consumer_that_last_saw_no_broker_still_fails_data_age():
    """The outage's leniency needs a consumer that beats: a stale heartbeat's last word
    about the broker proves nothing, and data_age fails with it."""
    assert failing(stale(last_error="broker unreachable", heartbeat_s=-400)) == [
        "heartbeat",
        "data_age",
    ]


def test_data_age_fails_while_the_broker_answers_but_the_consumer_cannot_write():
    snap = Snapshot(
        (PartitionRow("t", 0, 100, 100, NOW - 300 * S, NOW - 200 * S),),
        ConsumerRow(NOW - S, True, "projection write failed", broker_contact_at_us=NOW - 200 * S),
        catalog_version=3,
    )
    assert failing(snap) == ["data_age"]


def test_data_age_unknown_before_any_partition_fails():
    empty = Snapshot((), ConsumerRow(NOW, True, None), catalog_version=0)
    assert failing(empty) == ["lag", "data_age"]


def test_a_stale_heartbeat_says_what_the_consumer_last_reported():
    checks = readiness_checks(
        snapshot=stale(
            last_error="projection write failed (OperationalError SQLITE_IOERR)", heartbeat_s=-40
        ),
        catalog_size=48,
        now_us=NOW,
        max_lag=1000,
        max_heartbeat_age_seconds=30,
        max_data_age_seconds=300,
        free_bytes=10**9,
    )
    by_name = {c.name: c for c in checks}
    assert [c.name for c in checks if not c.ok] == ["heartbeat"]
    assert "projection write failed (OperationalError SQLITE_IOERR)" in by_name["heartbeat"].detail


def test_not_ready_while_an_assigned_partition_is_unread(tmp_path):
    """Hardening item 6: a partition the consumer is assigned and has not read fails /ready
    (lag and data age), though every partition it did read is caught up."""
    from store import status, writes
    from store.db import connect, transaction
    from store.rows import PositionRow

    conn = connect(tmp_path / "coach.db")
    with transaction(conn):
        writes.heartbeat(conn, now_us=NOW - S, broker_reachable=True, last_error=None)
        writes.save_positions(conn, positions=[PositionRow("t", 0, 100, 100, NOW - S)], now_us=NOW)
        writes.save_assigned(conn, rows=[("t", 0, 0, 100), ("t", 1, 0, 5000)], now_us=NOW)
    assert failing(status.snapshot(conn)) == ["lag", "data_age"]
    with transaction(conn):  # the partition is empty: nothing to read
        writes.save_assigned(conn, rows=[("t", 0, 0, 100), ("t", 1, 0, 0)], now_us=NOW)
    assert failing(status.snapshot(conn)) == []


def test_data_already_stale_when_the_broker_was_lost_still_fails():
    """A replica off for 3 days, started during an outage: its last contact is 3 days old
    and it found the broker unreachable 10 s ago. The outage does not explain that age:
    data_age fails, saying how old the data already was."""
    snap = Snapshot(
        (PartitionRow("t", 0, 100, 100, NOW - 259_300 * S, NOW - 259_200 * S),),
        ConsumerRow(
            NOW - S,
            False,
            "broker unreachable (KafkaConnectionError)",
            broker_contact_at_us=NOW - 259_200 * S,
            broker_lost_at_us=NOW - 10 * S,
        ),
        catalog_version=3,
    )
    checks = {
        c.name: c
        for c in readiness_checks(
            snapshot=snap,
            catalog_size=48,
            now_us=NOW,
            max_lag=1000,
            max_heartbeat_age_seconds=30,
            max_data_age_seconds=120,
            free_bytes=None,
        )
    }
    assert not checks["data_age"].ok and not checks["data_age"].degraded
    assert "already 259190 s old when the broker was lost" in checks["data_age"].detail
