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


def failing(snap: Snapshot, catalog_size: int = 48) -> list[str]:
    checks = readiness_checks(
        snapshot=snap,
        catalog_size=catalog_size,
        now_us=NOW,
        max_lag=1000,
        max_heartbeat_age_seconds=30,
    )
    assert [c.name for c in checks] == ["catalog", "heartbeat", "lag"]
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
    assert failing(snapshot(heartbeat_s=-60, lag=5000), catalog_size=0) == [
        "catalog",
        "heartbeat",
        "lag",
    ]


def test_the_limits_are_inclusive():
    assert failing(snapshot(heartbeat_s=-30, lag=1000)) == []
