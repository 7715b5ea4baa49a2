"""Time zones, checked against the IANA list before use (never a path or a hostile value)."""

from __future__ import annotations

import zoneinfo
from functools import cache
from zoneinfo import ZoneInfo


@cache
def _available() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def is_known_zone(name: object) -> bool:
    return isinstance(name, str) and len(name) <= 64 and name in _available()


@cache
def zone(name: str) -> ZoneInfo:
    """The ZoneInfo for a name that `is_known_zone` accepted."""
    if not is_known_zone(name):
        raise ValueError("not a known time zone (check it with is_known_zone first)")
    return ZoneInfo(name)


@cache
def known_zones() -> list[str]:
    """Every accepted zone name, sorted (documented as the `tz` parameter's values)."""
    return sorted(_available())
