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
    conn: sqlite3.Connection,
    started: Mapping[tuple[str, int], int],
    stored: Mapping[tuple[str, int], int],
) -> str | None:
    """Why a snapshot must not be read on (None: it may): `started` are its partitions
    without a stored offset, with the first offset the broker still has. One of a topic
    the file has read (offsets of other partitions, or the partition listed as assigned)
    whose first offset is past where the file's consumer last started it (0 when it never
    had it: a partition added after the snapshot) lacks records that retention removed
    and the file never saw. Other files read such a partition from its beginning, as a
    new replica does (docs/SCALING.md)."""
    if not started or snapshot.taken_at_us(conn) is None:
        return None
    read = {topic for topic, _ in stored}
    before = snapshot.assigned_starts(conn)
    lost = sorted(
        (tp, first)
        for tp, first in started.items()
        if (tp[0] in read or tp in before) and first > before.get(tp, 0)
    )
    if not lost:
        return None
    where = ", ".join(f"{t}/{p} (records before offset {first} are gone)" for (t, p), first in lost)
    return (
        f"the snapshot has no stored offset for partition(s) {where}, although it has read "
        "that topic: it lacks records that retention has removed. It cannot be continued: "
        "take a newer snapshot, or rebuild from the topics with `coach replay`."
    )
