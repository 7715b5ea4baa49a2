"""What the consumer knows is wrong, written with each heartbeat for the api (/ready, /lag).

What it writes is a fixed category and the exception's class (`broker unreachable
(KafkaConnectionError)`, `projection write failed (OperationalError SQLITE_FULL)`), never
the exception's text: that can hold broker addresses, and /lag and /ready are read by
whoever can reach the api. The text goes to the consumer's log only.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from store import shelf_life, writes
from store.db import transaction
from store.instants import now_us

log = logging.getLogger(__name__)

OUTAGE_REMINDER_SECONDS = 30.0
"""During a broker outage, the log says it still lasts at most this often."""


@dataclass
class Health:
    broker_error: str | None = None
    missing_topics: list[str] = field(default_factory=list)
    unavailable_topics: dict[str, str] = field(default_factory=dict)
    """Topics that exist but answered with an error, and its class (consumer/kafka.py)."""
    write_error: str | None = None
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    _outage_since: float | None = field(default=None, init=False, repr=False)
    _reminded_at: float = field(default=0.0, init=False, repr=False)

    @property
    def reachable(self) -> bool:
        return self.broker_error is None

    def summary(self) -> str | None:
        parts = [
            self.broker_error,
            *(f"topic {t} does not exist yet" for t in self.missing_topics),
            *(f"topic {t} unavailable ({kind})" for t, kind in self.unavailable_topics.items()),
            self.write_error,
        ]
        return "; ".join(p for p in parts if p) or None

    def unreachable(self, exc: BaseException) -> None:
        """Record a failed contact. The log says so once when the outage starts (with the
        whole error), then at most every OUTAGE_REMINDER_SECONDS with how long it lasts.
        What the last answer said of the topics is forgotten: without a broker nothing is
        known of them (a topic left "unavailable" by a broker that was stopping is not)."""
        now = self.clock()
        self.missing_topics = []
        self.unavailable_topics = {}
        kind = category(exc)
        if self._outage_since is None:
            self._outage_since = self._reminded_at = now
            log.warning(
                "broker unreachable (%s); the projection is going stale, retrying: %r", kind, exc
            )
        elif now - self._reminded_at >= OUTAGE_REMINDER_SECONDS:
            self._reminded_at = now
            log.warning(
                "broker still unreachable after %.0f s (%s); retrying",
                now - self._outage_since,
                kind,
            )
        self.broker_error = f"broker unreachable ({kind})"

    def reached(self) -> None:
        """Record a successful contact; after an outage, log its end and how long it lasted."""
        if self._outage_since is not None:
            log.info("broker reachable again after %.0f s", self.clock() - self._outage_since)
            self._outage_since = None
        self.broker_error = None

    def write_failed(self, exc: BaseException) -> None:
        log.error("projection write failed: %s; retrying", exc)
        self.write_error = f"projection write failed ({category(exc)})"


def category(exc: BaseException) -> str:
    """What may be shown of an exception: its class, and SQLite's error code name if any
    (`SQLITE_FULL`, `SQLITE_READONLY`: fixed names); never its text."""
    code = getattr(exc, "sqlite_errorname", None)
    return type(exc).__name__ + (f" {code}" if isinstance(code, str) else "")


def write_heartbeat(
    conn: sqlite3.Connection,
    health: Health,
    highs: list[tuple[int, str, int]],
    assigned: list[tuple[str, int, int, int | None]] | None = None,
) -> None:
    """Record the heartbeat, the high watermarks of partitions read, and (unless None)
    every partition assigned, with the topics read to their high watermarks (caught up, see
    store/shelf_life.py). A storage fault is logged, not raised (as the writes retry)."""
    try:
        with transaction(conn):
            now = now_us()
            writes.heartbeat(
                conn,
                now_us=now,
                broker_reachable=health.reachable,
                last_error=health.summary(),
                # `assigned` comes only with the heartbeat that has just asked the broker
                # for the partitions (consumer/assignment.py `refresh`): when it answered,
                # a contact, until which a caught-up projection is complete (api/lag.py).
                broker_contact=health.reachable and assigned is not None,
            )
            writes.save_high_watermarks(conn, rows=highs)
            if assigned is not None:
                shelf_life.mark_caught_up(conn)  # as of the previous heartbeat
                writes.save_assigned(conn, rows=assigned, now_us=now)
                shelf_life.mark_caught_up(conn)  # as of now
    except sqlite3.DatabaseError as exc:
        log.error("could not record the heartbeat: %s", exc)
