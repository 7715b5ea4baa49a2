"""What a replay still has to read, and what retention took: pure functions over offsets.

A partition is named by `(topic, partition)`; offsets are Kafka offsets (the next one to
read, like the projection's `partitions.next_offset`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

Partition = tuple[str, int]


class _HasOffset(Protocol):
    @property
    def offset(self) -> int: ...


R = TypeVar("R", bound=_HasOffset)


def clip(records: Sequence[R], target: int) -> list[R]:
    """The records before `target` (records of one partition come in offset order)."""
    if not records or records[-1].offset < target:
        return list(records)
    return [r for r in records if r.offset < target]


def caught_up(positions: Mapping[Partition, int], targets: Mapping[Partition, int]) -> bool:
    """Whether every partition has been read up to its target."""
    return all(positions.get(p, 0) >= t for p, t in targets.items())


def remaining(positions: Mapping[Partition, int], targets: Mapping[Partition, int]) -> int:
    """Records (offsets) still to read before every target is reached."""
    return sum(max(0, t - positions.get(p, 0)) for p, t in targets.items())


def by_topic(counts: Mapping[Partition, int]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for (topic, _), n in counts.items():
        totals[topic] = totals.get(topic, 0) + n
    return totals


def erasures_first(
    targets: Mapping[Partition, int], roles: Mapping[str, str]
) -> dict[Partition, int]:
    """The targets of the erasures topic's partitions, which a replay reads before the
    others, so that no workout of an erased user is ever stored (docs/PRIVACY.md)."""
    return {p: t for p, t in targets.items() if roles.get(p[0]) == "erasures"}


def initial_positions(
    beginnings: Mapping[Partition, int], targets: Mapping[Partition, int]
) -> dict[Partition, int]:
    """Where reading starts: the earliest retained offset (never past the target)."""
    return {p: min(beginnings.get(p, 0), t) for p, t in targets.items()}


@dataclass(frozen=True)
class Gap:
    """Offsets of a partition that the topic no longer holds."""

    partition: Partition
    first_retained: int
    """The earliest offset still in the topic: offsets 0 .. first_retained-1 are gone."""
    first_retained_at_ms: int | None = None
    """The timestamp of the earliest record read, when one was read."""


def gaps(beginnings: Mapping[Partition, int]) -> list[Gap]:
    """Partitions whose first offsets were removed (retention, delete-records)."""
    return [Gap(p, b) for p, b in sorted(beginnings.items()) if b > 0]


def describe_gaps(found: Sequence[Gap], *, compacted: set[str]) -> list[str]:
    """What could not be rebuilt, one line per partition, for the replay's report."""
    lines = []
    for gap in found:
        topic, partition = gap.partition
        where = f"{topic}/{partition}: offsets 0..{gap.first_retained - 1} are gone"
        if topic in compacted:
            lines.append(
                f"{where}; the topic is compacted, so the latest event of every exercise is "
                "still there and the catalog is complete"
            )
            continue
        since = (
            f" events before {_iso(gap.first_retained_at_ms)}"
            if gap.first_retained_at_ms is not None
            else " the oldest events"
        )
        lines.append(
            f"{where} (retention):{since} are not in the rebuilt projection; workouts of "
            "that time are neither in yesterday's history nor in the suggestions, and "
            "deletes of them are lost"
        )
    return lines


def _iso(ms: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")
