"""Lag and data age from what the consumer recorded (api/lag.py): pure arithmetic."""

from __future__ import annotations

from api.lag import (
    age_seconds,
    age_when_lost_seconds,
    complete_until_us,
    heartbeat_age_seconds,
    total_lag,
)
from store.status import ConsumerRow, PartitionRow

S = 1_000_000
NOW = 1_800_000_000 * S


def part(
    next_offset: int, high: int | None, last_event_s: float | None, updated_s: float, p: int = 0
) -> PartitionRow:
    return PartitionRow(
        "t",
        p,
        next_offset,
        high,
        None if last_event_s is None else int(NOW + last_event_s * S),
        int(NOW + updated_s * S),
    )


def beat(at_s: float | None, reachable: bool = True) -> ConsumerRow:
    return ConsumerRow(None if at_s is None else int(NOW + at_s * S), reachable, None)


def test_total_lag_sums_partitions_and_is_unknown_when_one_is():
    assert total_lag([part(10, 15, -5, -1), part(3, 3, -9, -1, p=1)]) == 5
    assert total_lag([part(10, 15, -5, -1), part(3, None, -9, -1, p=1)]) is None
    assert total_lag([]) is None


def test_a_high_watermark_behind_the_offset_is_no_lag():
    """A watermark read before the batch that passed it is not negative lag."""
    assert total_lag([part(20, 15, -5, -1)]) == 0


def test_caught_up_partitions_are_complete_until_the_last_heartbeat():
    rows = [part(10, 10, -600, -300), part(4, 4, -900, -60, p=1)]
    assert complete_until_us(rows, beat(-2)) == NOW - 2 * S


def test_without_the_broker_the_heartbeat_confirms_nothing():
    """When the broker was unreachable, only each partition's last batch is known."""
    rows = [part(10, 10, -600, -300), part(4, 4, -900, -60, p=1)]
    assert complete_until_us(rows, beat(-2, reachable=False)) == NOW - 300 * S


def test_a_quiet_topic_during_an_outage_is_complete_until_the_last_contact():
    """Issue 33.1: topics quiet for minutes, then the broker goes away. The projection was
    confirmed complete at the last contact with the broker (2 s ago), not at the last
    batch (300 s ago): the data age is how long the broker has been away."""
    rows = [part(10, 10, -600, -300), part(4, 4, -900, -250, p=1)]
    away = ConsumerRow(NOW - S, False, "broker unreachable", broker_contact_at_us=NOW - 2 * S)
    assert complete_until_us(rows, away) == NOW - 2 * S
    assert age_seconds(NOW, complete_until_us(rows, away)) == 2
    # A batch after the last contact (read just before the broker went) counts.
    assert complete_until_us([part(4, 4, -1, -1)], away) == NOW - S


def test_the_last_contact_does_not_confirm_a_lagging_partition():
    rows = [part(4, 9, -45, -1)]
    away = ConsumerRow(NOW - S, False, None, broker_contact_at_us=NOW - S)
    assert complete_until_us(rows, away) == NOW - 45 * S


def test_a_lagging_partition_is_complete_until_its_last_event():
    rows = [part(10, 10, -600, -1), part(4, 9, -45, -1, p=1)]
    assert complete_until_us(rows, beat(-1)) == NOW - 45 * S


def test_a_future_event_time_is_clamped_to_when_it_was_applied():
    rows = [part(4, 9, +30, -10)]
    assert complete_until_us(rows, beat(-1)) == NOW - 10 * S


def test_nothing_recorded_is_unknown():
    assert complete_until_us([], beat(-1)) is None
    assert complete_until_us([part(4, 9, None, -1)], beat(-1)) is None


def test_ages_round_up_and_never_go_negative():
    assert age_seconds(NOW, NOW - S // 2) == 1
    assert age_seconds(NOW, NOW - 3 * S) == 3
    assert age_seconds(NOW, NOW + 5 * S) == 0
    assert age_seconds(NOW, None) is None
    assert heartbeat_age_seconds(NOW, beat(-2.5)) == 2.5
    assert heartbeat_age_seconds(NOW, beat(None)) is None


def _recorded(tmp_path, *, read, assigned):  # type: ignore[no-untyped-def]
    """The partitions as store/status.py reads them back, after the consumer recorded
    `read` (PositionRows stored with batches) and `assigned` (with its heartbeat)."""
    from store import status, writes
    from store.db import connect, transaction

    conn = connect(tmp_path / "coach.db")
    with transaction(conn):
        writes.save_positions(conn, positions=read, now_us=NOW - S)
        writes.save_assigned(conn, rows=assigned, now_us=NOW - S)
    return status.partitions(conn)


def test_a_partition_never_read_is_listed_with_all_its_records_as_lag(tmp_path):
    """Hardening item 6: a partition assigned but never read (no stored offset) is listed
    at its start offset with its high watermark; its lag counts every record in it and,
    with no event read, the data age is unknown. An empty one is caught up."""
    from store.rows import PositionRow

    rows = _recorded(
        tmp_path,
        read=[PositionRow("t", 0, 10, 10, NOW - 5 * S)],
        assigned=[("t", 0, 0, 10), ("t", 1, 0, 7), ("t", 2, 0, 0)],
    )
    assert [(r.partition, r.next_offset, r.high_watermark) for r in rows] == [
        (0, 10, 10),
        (1, 0, 7),
        (2, 0, 0),
    ]
    assert total_lag(rows) == 7
    assert complete_until_us(rows, beat(-1)) is None
    # Once its records are read (and the empty one stays empty), every partition is confirmed.
    assert complete_until_us([rows[0], rows[2]], beat(-1)) == NOW - S


def test_the_loss_of_the_broker_is_recorded_once_per_outage(tmp_path):
    """`meta.broker_lost_at_us` is the first unreachable heartbeat after a contact: kept
    through the outage (and a restart), moved by the next outage only."""
    from store import status, writes
    from store.db import connect, transaction

    conn = connect(tmp_path / "coach.db")

    def beat_at(at_s: int, *, reachable: bool) -> ConsumerRow:
        with transaction(conn):
            writes.heartbeat(
                conn,
                now_us=NOW + at_s * S,
                broker_reachable=reachable,
                last_error=None,
                broker_contact=reachable,
            )
        return status.consumer(conn)

    assert beat_at(0, reachable=True).broker_lost_at_us is None
    assert beat_at(1, reachable=False).broker_lost_at_us == NOW + S
    assert beat_at(2, reachable=False).broker_lost_at_us == NOW + S
    back = beat_at(3, reachable=True)
    assert (back.broker_contact_at_us, back.broker_lost_at_us) == (NOW + 3 * S, NOW + S)
    rows = [part(10, 10, -600, -300)]
    assert age_when_lost_seconds(rows, back) is None  # reachable since: no outage now
    again = beat_at(7, reachable=False)
    assert again.broker_lost_at_us == NOW + 7 * S
    assert age_when_lost_seconds(rows, again) == 4  # lost 4 s after the last contact
