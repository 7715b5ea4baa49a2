"""The consumer's status as the WOD path sees it: read at most once per `ttl_seconds`.

Every WOD response carries two headers built from it (see api/lag.py for the definitions):
`X-Projection-Lag` (records not yet applied, or `unknown`) and `X-Data-Age` (whole seconds
since the instant before which the projection holds every event, or `unknown`).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass

from api.lag import age_seconds, complete_until_us, total_lag
from store import status
from store.changes import ChangeMark
from store.status import Snapshot

LAG_HEADER = b"x-projection-lag"
AGE_HEADER = b"x-data-age"
UNKNOWN = b"unknown"


@dataclass(frozen=True, slots=True)
class Freshness:
    snapshot: Snapshot
    lag_header: tuple[bytes, bytes]
    complete_until_us: int | None

    @property
    def catalog_version(self) -> int:
        return self.snapshot.catalog_version

    @property
    def changes(self) -> ChangeMark:
        return self.snapshot.changes

    def age_header(self, now_us: int) -> tuple[bytes, bytes]:
        age = age_seconds(now_us, self.complete_until_us)
        return AGE_HEADER, UNKNOWN if age is None else str(age).encode()


def freshness_of(snapshot: Snapshot) -> Freshness:
    lag = total_lag(snapshot.partitions)
    return Freshness(
        snapshot,
        (LAG_HEADER, UNKNOWN if lag is None else str(lag).encode()),
        complete_until_us(snapshot.partitions, snapshot.consumer),
    )


class StatusCache:
    """Reuses the last snapshot for `ttl_seconds` (0: read on every call)."""

    def __init__(self, ttl_seconds: float, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._expires = float("-inf")
        self._value: Freshness | None = None

    def reset(self) -> None:
        """Forget the last snapshot: the next `get` reads it again."""
        self._value = None
        self._expires = float("-inf")

    def get(self, conn: sqlite3.Connection) -> Freshness:
        now = self._monotonic()
        value = self._value
        if value is None or now >= self._expires:
            value = self._value = freshness_of(status.snapshot(conn))
            self._expires = now + self._ttl
        return value
