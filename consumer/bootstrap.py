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

from config.derived import roles
from config.settings import Settings
from store import snapshot
from store.db import file_of, transaction
from store.errors import ProjectionRefused
from store.instants import now_us

log = logging.getLogger(__name__)


def check_before_reading(conn: sqlite3.Connection, settings: Settings) -> None:
    """Raise ProjectionRefused when the projection at `conn` must not be read on."""
    first_start = snapshot.is_unchecked_snapshot(conn)
    started = time.monotonic()
    why = snapshot.refusals(conn, roles(settings))
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
