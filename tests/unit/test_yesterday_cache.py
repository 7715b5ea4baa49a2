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
