"""When an erasure happened, at the precision its own `time` carries (events/erasure_time.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events.erasure_time import last_us_of, last_us_of_ms
from wod.instants import to_us

BASE = to_us(datetime(2026, 12, 1, 10, 0, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "last"),
    [
        ("2026-12-01T10:00:00Z", BASE + 999_999),  # whole seconds: the whole second
        ("2026-12-01T10:00:00.1Z", BASE + 199_999),
        ("2026-12-01T10:00:00.123Z", BASE + 123_999),  # milliseconds: the whole ms
        ("2026-12-01T10:00:00.123456Z", BASE + 123_456),  # microseconds: exact
        ("2026-12-01T10:00:00.123456789Z", BASE + 123_456),  # finer: cut to µs
        ("2026-12-01T11:00:00.000001+01:00", BASE + 1),
        ("2026-12-01t10:00:00z", BASE + 999_999),
    ],
)
def test_the_last_microsecond_a_time_can_mean(text, last):
    assert last_us_of(text) == last


@pytest.mark.parametrize(
    "text",
    [None, "", "2026-12-01T10:00:00", "2026-12-01 10:00:00Z", "2026-13-01T10:00:00Z", "x" * 100],
)
def test_a_time_without_offset_or_not_rfc3339_gives_none(text):
    assert last_us_of(text) is None


def test_a_kafka_timestamp_covers_its_millisecond():
    assert last_us_of_ms(1_000) == 1_000_999
