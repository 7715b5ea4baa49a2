"""How long "yesterday and today" can last in any time zone: the least history to keep, and
the check of COACH_HISTORY_HOURS against it."""

from __future__ import annotations

import functools
import math
import zoneinfo
from datetime import UTC, date, datetime, time, timedelta


def longest_yesterday_and_today(zones: list[str], first: date, last: date) -> timedelta:
    """The longest span, in any of `zones` and for any day from `first` to `last`, from the
    start of yesterday to the end of today (local midnights, as wod.day finds them).

    48 h, or more where a zone's clocks go back within those two days. Each zone's UTC offset
    is read at noon once a week; where it changed, the days around are measured exactly. (Two
    changes within a week that cancel out would go unseen; measuring every day of 1990-2037
    gave the same longest span in every zone.)
    """
    step = 7
    noons = [datetime.combine(first, time(12))]
    while noons[-1].date() < last:
        noons.append(noons[-1] + timedelta(days=step))
    longest = 48 * 3600.0
    for name in zones:
        tz = zoneinfo.ZoneInfo(name)
        offsets = [tz.utcoffset(noon) for noon in noons]
        for i in range(len(noons) - 1):
            if offsets[i] != offsets[i + 1]:
                days = [noons[i].date() + timedelta(days=d) for d in range(-1, step + 3)]
                midnights = [datetime.combine(d, time(0), tz).timestamp() for d in days]
                longest = max(
                    longest, *(b - a for a, b in zip(midnights, midnights[2:], strict=False))
                )
    return timedelta(seconds=longest)


@functools.cache
def min_history_hours() -> int:
    """The least COACH_HISTORY_HOURS: at the last instant of today, the api reads "yesterday",
    which must still be in the projection in every zone. From the zone data (tzdata), for the
    days from last year's first to the year after next's last: 50 h with Antarctica/Troll's
    2 h change at the end of its summer time. Computed once per process (about 0.2 s)."""
    year = datetime.now(UTC).year
    zones = sorted(zoneinfo.available_timezones() | {"UTC"})
    span = longest_yesterday_and_today(zones, date(year - 1, 1, 1), date(year + 2, 12, 31))
    return math.ceil(span / timedelta(hours=1))


def covers_yesterday(hours: int) -> int:
    """COACH_HISTORY_HOURS is at least `min_history_hours()` (settings.py's validator)."""
    minimum = min_history_hours()
    if hours < minimum:
        raise ValueError(
            f"must be at least {minimum}: in some time zone yesterday and today span "
            f"{minimum} h, and yesterday must still be there at the end of today"
        )
    return hours
