"""The per-user cache of rendered WODs (api/wodcache.py)."""

from __future__ import annotations

from datetime import date

import pytest

from api.wodcache import WodCache
from store.changes import ChangeMark
from wod.day import Day

DAY = Day(date(2026, 11, 27), 100, 200)
NEXT_DAY = Day(date(2026, 11, 28), 200, 300)
MARK = ChangeMark(5, 50)


def started(size: int = 10) -> WodCache:
    cache = WodCache(size)
    cache.advance(MARK, None)
    return cache


def test_nothing_is_held_before_a_change_mark_is_seen():
    cache = WodCache(10)
    cache.put("7", DAY, 1, b"x")
    assert cache.get("7", DAY, 1) is None
    assert cache.stale(ChangeMark(0, 0))


def test_an_entry_answers_for_its_day_and_catalog_version_only():
    cache = started()
    cache.put("7", DAY, 1, b"x")
    assert cache.get("7", DAY, 1) == b"x"
    assert cache.get("7", NEXT_DAY, 1) is None
    assert cache.get("7", DAY, 2) is None
    assert cache.get("8", DAY, 1) is None


@pytest.mark.parametrize("mark", [ChangeMark(6, 50), ChangeMark(5, 51), ChangeMark(6, 51)])
def test_advance_drops_the_changed_users_only(mark):
    cache = started()
    cache.put("7", DAY, 1, b"x")
    cache.put("8", DAY, 1, b"y")
    assert cache.stale(mark) and not cache.stale(MARK)
    cache.advance(mark, {"8", "9"})
    assert cache.get("7", DAY, 1) == b"x"
    assert cache.get("8", DAY, 1) is None
    assert cache.mark == mark and not cache.stale(mark)


@pytest.mark.parametrize(
    ("mark", "changed"),
    [
        (ChangeMark(7, 60), None),
        (ChangeMark(4, 60), set()),
        (ChangeMark(6, 49), set()),
        (ChangeMark(6, 60, epoch=1), set()),
    ],
)
def test_too_many_changes_or_a_mark_that_does_not_follow_drop_everything(mark, changed):
    cache = started()
    cache.put("7", DAY, 1, b"x")
    cache.advance(mark, changed)
    assert len(cache) == 0 and cache.mark == mark


def test_least_recently_used_go_first():
    cache = started(size=2)
    cache.put("1", DAY, 1, b"a")
    cache.put("2", DAY, 1, b"b")
    assert cache.get("1", DAY, 1) == b"a"
    cache.put("3", DAY, 1, b"c")
    assert cache.get("2", DAY, 1) is None
    assert cache.get("1", DAY, 1) == b"a" and cache.get("3", DAY, 1) == b"c"


def test_size_0_holds_nothing_and_clear_forgets_the_mark():
    off = started(size=0)
    off.put("7", DAY, 1, b"x")
    assert len(off) == 0
    cache = started()
    cache.put("7", DAY, 1, b"x")
    cache.clear()
    assert len(cache) == 0 and cache.mark is None
    with pytest.raises(ValueError):
        WodCache(-1)


def test_a_full_cache_adds_nothing_to_the_garbage_collectors_work():
    """Entries are plain tuples of ints, dates and bytes, which the collector stops tracking
    once it has looked at them: thousands of held WODs must not lengthen every full
    collection (a 107 ms stall under bench/tail.py's cold mix when they did)."""
    import gc

    cache = started(size=100)
    for user in range(100):
        cache.put(str(user), Day(date(2026, 11, 27), 100, 200), 1, b"x" * 50)
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in cache._entries.values())
    assert cache.get("5", DAY, 1) == b"x" * 50
