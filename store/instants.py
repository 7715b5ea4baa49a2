"""How the projection stores instants: integer microseconds since the Unix epoch (UTC)."""

from __future__ import annotations

from datetime import UTC, datetime

from wod.instants import to_us


def from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=UTC)


def now_us() -> int:
    return to_us(datetime.now(UTC))
