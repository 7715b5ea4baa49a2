"""Which instants make up "yesterday" for a user. Pure: no clock, no I/O."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

from wod.instants import to_us


class Day(NamedTuple):
    """A local calendar day as a half-open UTC interval [start_us, end_us) in microseconds."""

    local_date: date
    start_us: int
    end_us: int


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    # Midnight can be skipped by a DST change (e.g. America/Santiago, Asia/Beirut): the day
    # then starts at the first instant that exists, which fold=0 + normalising gives.
    naive = datetime.combine(day, time(0))
    aware = naive.replace(tzinfo=tz)
    return aware.astimezone(ZoneInfo("UTC")).astimezone(tz)


def yesterday(now: datetime, tz: ZoneInfo) -> Day:
    """The calendar day before `now`'s day in `tz`: 23, 24 or 25 hours long around DST."""
    today = now.astimezone(tz).date()
    day = today - timedelta(days=1)
    return Day(day, to_us(local_midnight(day, tz)), to_us(local_midnight(today, tz)))


def from_us(us: int) -> datetime:
    """The aware UTC datetime of epoch microseconds (exact, unlike a float timestamp)."""
    return _EPOCH + timedelta(microseconds=us)


_EPOCH = datetime(1970, 1, 1, tzinfo=ZoneInfo("UTC"))


class YesterdayCache:
    """`yesterday` per zone, computed once per local day: it only changes at local midnight.

    Each entry holds the zone's current local day [today_start_us, tomorrow_start_us); a
    lookup inside it returns the stored yesterday, one outside computes it again.
    """

    def __init__(self) -> None:
        self._days: dict[str, tuple[int, int, Day]] = {}

    def get(self, now_us: int, zone_name: str, tz: ZoneInfo) -> Day:
        entry = self._days.get(zone_name)
        if entry is not None and entry[0] <= now_us < entry[1]:
            return entry[2]
        day = yesterday(from_us(now_us), tz)
        tomorrow = day.local_date + timedelta(days=2)
        self._days[zone_name] = (day.end_us, to_us(local_midnight(tomorrow, tz)), day)
        return day
