"""When an erasure happened, as the rule that keeps an erased user erased compares it. Pure.

The erasure's own CloudEvents `time`, written by the monolith in the transaction that
erased the user, is the instant; the record's Kafka timestamp is not (Debezium's outbox
router stamps the relay's processing time, seconds or hours later). A workout is "at or
before the erasure" when it is at or before that instant *at the precision the erasure
carries*: a `time` of whole milliseconds (or the Kafka timestamp, for an erasure without
a `time`) covers its whole millisecond, so the instant kept is the last microsecond the
text can mean (`...:00.123Z` -> 00.123999). A workout's `completed_at` is compared as
written: a workout stamped within the erasure's last unit counts as before it, the side
that keeps a user's data out when the two cannot be told apart.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RFC3339 = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
MAX_TEXT = 64


def last_us_of(text: str | None) -> int | None:
    """The last microsecond (since the epoch) an RFC 3339 `time` can mean; None when there
    is none or it is not RFC 3339 with a UTC offset."""
    if text is None or len(text) > MAX_TEXT:
        return None
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    day, clock, fraction, offset = match.groups()
    fraction = fraction or ""
    micros = (fraction + "000000")[:6]
    zone = "+00:00" if offset in ("Z", "z") else offset
    try:
        at = datetime.fromisoformat(f"{day}T{clock}.{micros}{zone}")
    except ValueError:
        return None
    us = (at - _EPOCH) // _ONE_US
    digits = min(len(fraction), 6)
    return us + 10 ** (6 - digits) - 1


def last_us_of_ms(timestamp_ms: int) -> int:
    """The last microsecond of a Kafka timestamp's millisecond."""
    return timestamp_ms * 1000 + 999
