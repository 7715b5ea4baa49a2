"""Where each partition's reading stands, from the consumer's positions. Pure.

The next offset to store is the consumer's position, not the last record's offset + 1: a
transactional producer's commit (or abort) marker takes an offset of its own, and records of
an aborted transaction are skipped, so the position runs ahead of the last record, and a
fetch of nothing but markers or aborted records moves it with no record at all (aiokafka
0.14 advances the position past them when getmany() drains the fetch). Such a move must be
stored too, else the partition shows the marker as lag forever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from store.rows import PositionRow

Partition = tuple[str, int]


class _Last(Protocol):
    @property
    def timestamp(self) -> int | None: ...  # milliseconds since the epoch


def moved(
    known: Mapping[Partition, int],
    reached: Mapping[Partition, int],
    last: Mapping[Partition, _Last],
    highs: Mapping[Partition, int | None],
) -> list[PositionRow]:
    """A row for each partition whose position (`reached`) is past the one `known` (handed
    to the writer, or where reading started), with its high watermark and the time of its
    last record fetched (`last`; None when it moved past markers only, which keeps the
    time stored)."""
    rows = []
    for key, offset in sorted(reached.items()):
        if offset <= known.get(key, -1):
            continue
        record = last.get(key)
        at = record.timestamp if record is not None else None
        rows.append(
            PositionRow(
                key[0], key[1], offset, highs.get(key), at * 1000 if at is not None else None
            )
        )
    return rows


def beyond_end(
    stored: Mapping[Partition, int], ends: Mapping[Partition, int]
) -> dict[Partition, tuple[int, int]]:
    """The partitions whose stored next offset is past the partition's end: the topic was
    deleted and created again (offsets start at 0 again). partition -> (stored, end)."""
    return {
        key: (offset, ends[key])
        for key, offset in sorted(stored.items())
        if key in ends and offset > ends[key]
    }
