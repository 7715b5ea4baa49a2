"""How far behind its topics the projection is, from what the consumer recorded. Pure.

- A partition's lag is `high_watermark - next_offset`: records on the topic that the
  projection had not applied when the consumer last looked at the high watermark. Unknown
  (None) while the consumer has not recorded a high watermark for it.
- The projection is *complete until* an instant T when it holds every event published before
  T. For a partition with no lag, T is when the consumer last confirmed it: its last contact
  with the broker (the last heartbeat at which the broker answered and the high watermarks
  were read, `ConsumerRow.broker_contact_at_us`), or the partition's last batch if later.
  While the broker is unreachable, T stays at the last contact: on a quiet topic the data
  age is how long the broker has been away, not how long the topic has been quiet. For a
  partition with lag, or whose high watermark is unknown, T is the time of the last record
  applied (its Kafka timestamp). The projection's T is the earliest over its partitions;
  the data age is now - T.
- The data age *when the broker was lost* is `broker_lost_at_us` - T: how old the data
  already was when the consumer first found the broker unreachable. Small: the outage alone
  explains the age since (api/readiness.py); large: the replica was behind, or was itself
  down, before.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from store.status import ConsumerRow, PartitionRow

US = 1_000_000


def partition_lag(row: PartitionRow) -> int | None:
    if row.high_watermark is None:
        return None
    return max(0, row.high_watermark - row.next_offset)


def total_lag(rows: Iterable[PartitionRow]) -> int | None:
    """Sum of the partitions' lags; None when there are none or one is unknown."""
    total = 0
    seen = False
    for row in rows:
        lag = partition_lag(row)
        if lag is None:
            return None
        total += lag
        seen = True
    return total if seen else None


def complete_until_us(rows: Sequence[PartitionRow], consumer: ConsumerRow) -> int | None:
    """The instant before which the projection holds every event; None when unknown."""
    if not rows:
        return None
    contact = last_contact_us(consumer)
    until: int | None = None
    for row in rows:
        lag = partition_lag(row)
        if lag == 0:
            confirmed = row.updated_at_us if contact is None else max(row.updated_at_us, contact)
        elif row.last_event_at_us is None:
            return None
        else:
            confirmed = min(row.last_event_at_us, row.updated_at_us)
        until = confirmed if until is None else min(until, confirmed)
    return until


def last_contact_us(consumer: ConsumerRow) -> int | None:
    """When the consumer last reached the broker and read the high watermarks. A file
    written by a coach that did not record it: the heartbeat, if the broker answered it."""
    if consumer.broker_contact_at_us is not None:
        return consumer.broker_contact_at_us
    return consumer.heartbeat_at_us if consumer.broker_reachable else None


def age_when_lost_seconds(rows: Sequence[PartitionRow], consumer: ConsumerRow) -> int | None:
    """How old the data was when the consumer first found the broker unreachable after its
    last contact; None when no such loss is recorded (reachable since, or never recorded)."""
    lost = consumer.broker_lost_at_us
    contact = consumer.broker_contact_at_us
    if lost is None or (contact is not None and lost < contact):
        return None
    return age_seconds(lost, complete_until_us(rows, consumer))


def age_seconds(now_us: int, then_us: int | None) -> int | None:
    """Whole seconds from `then_us` to `now_us`, rounded up; never negative."""
    if then_us is None:
        return None
    return max(0, -((then_us - now_us) // US))


def heartbeat_age_seconds(now_us: int, consumer: ConsumerRow) -> float | None:
    if consumer.heartbeat_at_us is None:
        return None
    return max(0.0, (now_us - consumer.heartbeat_at_us) / US)
