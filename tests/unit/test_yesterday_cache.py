"""YesterdayCache: the same answers as `yesterday`, recomputed at each local midnight."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.zones import zone
from wod.day import YesterdayCache, yesterday
from wod.instants import to_us


@pytest.mark.parametrize(
    "zone_name",
    ["UTC", "Asia/Tokyo", "America/Los_Angeles", "Europe/Berlin", "Pacific/Kiritimati"],
)
def test_cache_agrees_with_yesterday_around_the_clock(zone_name):
    """Every 20 minutes over three days, including Berlin's autumn DST change."""
    cache = YesterdayCache()
    tz = zone(zone_name)
    moment = datetime(2026, 10, 24, 0, 10, tzinfo=UTC)
    for _ in range(3 * 72):
        assert cache.get(to_us(moment), zone_name, tz) == yesterday(moment, tz)
        moment += timedelta(minutes=20)


def test_the_last_microsecond_before_local_midnight():
    tz = zone("Asia/Tokyo")
    cache = YesterdayCache()
    midnight = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 00:00 on the 28th in Tokyo
    before = cache.get(to_us(midnight) - 1, "Asia/Tokyo", tz)
    after = cache.get(to_us(midnight), "Asia/Tokyo", tz)
    assert (before.local_date.day, after.local_date.day) == (26, 27)


def test_yesterday_is_computed_once_per_zone_and_local_day(monkeypatch):
    """Within a local day the cache answers from its entry; a new day or another zone computes
    again (without the cache, each lookup would call `yesterday`)."""
    calls = []

    def counted(now, tz):
        calls.append((now, str(tz)))
        return yesterday(now, tz)

    monkeypatch.setattr("wod.day.yesterday", counted)
    cache = YesterdayCache()
    tokyo, berlin = zone("Asia/Tokyo"), zone("Europe/Berlin")
    midnight = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 00:00 on the 28th in Tokyo
    first = cache.get(to_us(midnight), "Asia/Tokyo", tokyo)
    for hours in (0, 1, 12, 23):
        moment = to_us(midnight + timedelta(hours=hours))
        assert cache.get(moment, "Asia/Tokyo", tokyo) is first
    assert len(calls) == 1  # the entry starts at local midnight, inclusive
    cache.get(to_us(midnight), "Europe/Berlin", berlin)  # another zone: its own entry
    assert len(calls) == 2
    next_day = cache.get(to_us(midnight + timedelta(hours=24)), "Asia/Tokyo", tokyo)
    assert (len(calls), next_day.local_date.day) == (3, 28)
    assert cache.get(to_us(midnight) - 1, "Asia/Tokyo", tokyo).local_date.day == 26
    assert len(calls) == 4  # before the entry's day: computed again, never a stale answer
