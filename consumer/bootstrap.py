"""What the consumer checks of an existing projection file before it reads on from the
offsets stored in it: a snapshot given to a new replica (`coach snapshot`), a copy, or the
file it wrote itself before a restart.

Here: the file holds offsets of the configured topics only, and a snapshot's first start
passes SQLite's quick check (store/snapshot.py `refusals`). Elsewhere: the schema version
when the file is opened (store/db.py `connect`: older migrate, newer are refused), the
topic ids and the partitions against the broker's (consumer/assignment.py), a stored
offset that retention removed at the first fetch (consumer/loop.py, exit 3).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Mapping

from config.derived import roles
from config.settings import Settings
from store import snapshot
from store.db import file_of, transaction, unreadable, unreadable_message
from store.errors import ProjectionRefused
from store.instants import now_us

log = logging.getLogger(__name__)


def check_before_reading(conn: sqlite3.Connection, settings: Settings) -> None:
    """Raise ProjectionRefused when the projection at `conn` must not be read on."""
    started = time.monotonic()
    try:
        first_start = snapshot.is_unchecked_snapshot(conn)
        why = snapshot.refusals(conn, roles(settings))
    except sqlite3.DatabaseError as exc:  # pages past the schema's, cut off or garbled
        if not unreadable(exc):
            raise
        raise ProjectionRefused(unreadable_message(file_of(conn) or settings.db_path, exc)) from exc
    if why:
        raise ProjectionRefused(
            f"the projection {file_of(conn) or settings.db_path} cannot be used: "
            + "; ".join(why)
            + ". Point COACH_DB_PATH at a projection of these topics (a new replica: a "
            "`coach snapshot` of one that reads them), or rebuild it with `coach replay`."
        )
    if first_start:
        with transaction(conn):
            snapshot.mark_checked(conn, now_us=now_us())
        taken = snapshot.taken_at_us(conn)
        age = (now_us() - taken) / 1e6 if taken is not None else float("nan")
        log.info(
            "starting from a snapshot taken %.0f s ago: topics and SQLite's quick check "
            "passed in %.2f s; reading on from its offsets",
            age,
            time.monotonic() - started,
        )


def missed_records(
    started: Mapping[tuple[str, int], int], stored: Mapping[tuple[str, int], int]
) -> str | None:
    """Why reading on must stop (None: it may go on): partitions without a stored offset
    are read from their first retained offset (`started`); in a topic the projection has
    read other partitions of, one whose first retained offset is past 0 lost records to
    retention that the projection never saw (a snapshot taken before the partition was
    added, or of a replica that never read it). Documented in docs/SCALING.md."""
    read = {topic for topic, _ in stored}
    lost = sorted((tp, first) for tp, first in started.items() if first > 0 and tp[0] in read)
    if not lost:
        return None
    where = ", ".join(f"{t}/{p} (records before offset {first} are gone)" for (t, p), first in lost)
    return (
        f"the projection has no stored offset for partition(s) {where}, although it has read "
        "other partitions of the topic: it lacks records that retention has removed. The "
        "projection cannot be continued: rebuild it from the topics with `coach replay` (or "
        "start from a newer snapshot)."
    )
