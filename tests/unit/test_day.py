"""'Yesterday' in the user's time zone, as a UTC interval."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from wod.day import local_midnight, yesterday
from wod.instants import to_us

HOUR_US = 3_600_000_000


def test_utc_yesterday_is_the_previous_calendar_day():
    day = yesterday(datetime(2026, 11, 28, 7, 15, tzinfo=UTC), ZoneInfo("UTC"))
    assert day.local_date == date(2026, 11, 27)
    assert day.start_us == to_us(datetime(2026, 11, 27, tzinfo=UTC))
    assert day.end_us - day.start_us == 24 * HOUR_US


def test_yesterday_differs_between_utc_and_the_users_zone():
    """At 02:00 UTC it is already the next day in Tokyo and still the day before in L.A."""
    now = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)
    tokyo = yesterday(now, ZoneInfo("Asia/Tokyo"))  # local 11:00 on the 28th
    la = yesterday(now, ZoneInfo("America/Los_Angeles"))  # local 18:00 on the 27th
    assert tokyo.local_date == date(2026, 11, 27)
    assert la.local_date == date(2026, 11, 26)
    assert tokyo.start_us == to_us(datetime(2026, 11, 26, 15, 0, tzinfo=UTC))
    assert la.start_us == to_us(datetime(2026, 11, 26, 8, 0, tzinfo=UTC))


def test_dst_days_are_23_and_25_hours():
    """The day after a spring-forward is 23 h long; after a fall-back, 25 h."""
    berlin = ZoneInfo("Europe/Berlin")
    spring = yesterday(datetime(2026, 3, 30, 12, tzinfo=UTC), berlin)  # 29 March 2026
    autumn = yesterday(datetime(2026, 10, 26, 12, tzinfo=UTC), berlin)  # 25 October 2026
    assert spring.end_us - spring.start_us == 23 * HOUR_US
    assert autumn.end_us - autumn.start_us == 25 * HOUR_US


def test_a_day_whose_midnight_does_not_exist():
    """Where DST skips midnight (Santiago, Sept 2026), the day starts at 01:00 local."""
    santiago = ZoneInfo("America/Santiago")
    day = yesterday(datetime(2026, 9, 7, 15, tzinfo=UTC), santiago)
    assert day.local_date == date(2026, 9, 6)
    assert day.start_us == to_us(datetime(2026, 9, 6, 4, 0, tzinfo=UTC))  # 01:00 at -03:00
    assert day.end_us - day.start_us == 23 * HOUR_US


def test_local_midnight_is_a_wall_time_in_the_zone():
    """`local_midnight` gives the day's first instant as a time in the zone itself: 00:00,
    or 01:00 where DST skips midnight (its callers may read the wall clock, not only the
    instant)."""
    santiago = ZoneInfo("America/Santiago")
    for day, wall in (
        (date(2026, 9, 6), datetime(2026, 9, 6, 1, 0)),
        (date(2026, 9, 7), datetime(2026, 9, 7)),
    ):
        start = local_midnight(day, santiago)
        assert start.tzinfo is santiago
        assert start.replace(tzinfo=None) == wall
    tokyo = local_midnight(date(2026, 11, 28), ZoneInfo("Asia/Tokyo"))
    assert (tokyo.hour, tokyo.utcoffset()) == (
        0,
        datetime(2026, 11, 28, 9) - datetime(2026, 11, 28),
    )
    assert tokyo == datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_extreme_offsets_stay_inside_the_history_window():
    """In zones without daylight saving time, even at the extreme offsets, yesterday starts
    at most 48 h ago. (A clock going back adds its shift, 2 h in Antarctica/Troll: the
    minimum COACH_HISTORY_HOURS, config/history.py, covers that from the zone data.)"""
    now = datetime(2026, 11, 28, 11, 59, tzinfo=UTC)
    for name in ("Etc/GMT+12", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kathmandu"):
        day = yesterday(now, ZoneInfo(name))
        assert to_us(now) - day.start_us <= 48 * HOUR_US
