"""The replay's offset arithmetic and its retention report (pure)."""

from __future__ import annotations

from dataclasses import dataclass

from replay.plan import (
    Gap,
    by_topic,
    caught_up,
    clip,
    describe_gaps,
    gaps,
    initial_positions,
    remaining,
)


@dataclass
class R:
    offset: int


def test_clip_keeps_only_records_before_the_target():
    records = [R(5), R(6), R(7), R(8)]
    assert [r.offset for r in clip(records, 7)] == [5, 6]
    assert clip(records, 9) == records
    assert clip(records, 5) == []
    assert clip([], 3) == []


def test_caught_up_and_remaining():
    targets = {("w", 0): 10, ("w", 1): 0, ("e", 0): 3}
    assert not caught_up({("w", 0): 9, ("e", 0): 3}, targets)
    assert remaining({("w", 0): 9, ("e", 0): 3}, targets) == 1
    assert caught_up({("w", 0): 10, ("e", 0): 4}, targets)
    assert remaining({("w", 0): 12, ("e", 0): 4}, targets) == 0
    assert remaining({}, targets) == 13


def test_by_topic_and_initial_positions():
    assert by_topic({("w", 0): 3, ("w", 1): 4, ("e", 0): 1}) == {"w": 7, "e": 1}
    # Never start past the target: a partition the live projection has not read is done.
    assert initial_positions({("w", 0): 5, ("w", 1): 0}, {("w", 0): 3, ("w", 1): 9}) == {
        ("w", 0): 3,
        ("w", 1): 0,
    }


def test_gaps_name_partitions_that_lost_their_first_offsets():
    found = gaps({("w", 0): 0, ("w", 1): 50, ("e", 0): 7})
    assert found == [Gap(("e", 0), 7), Gap(("w", 1), 50)]
    lines = describe_gaps([Gap(("e", 0), 7), Gap(("w", 1), 50, 1_700_000_000_000)], compacted={"e"})
    assert lines[0].startswith("e/0: offsets 0..6 are gone; the topic is compacted")
    assert lines[1].startswith("w/1: offsets 0..49 are gone (retention): events before 2023-11-14")
    assert "not in the rebuilt projection" in lines[1]
