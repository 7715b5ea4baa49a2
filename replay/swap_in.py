"""Step 5 of `coach replay`: the rebuilt file takes the live name (store/files.py), and the
previous one goes once the api and the consumer have let go of it."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path

from store import files

log = logging.getLogger("coach.replay")

NO_BACKUP_GRACE_SECONDS = 5.0
"""With --no-backup, the previous file is removed this long after the swap, once the api
workers and the consumer (which check every second) have let go of it."""


async def swap_in(
    conn: sqlite3.Connection, building: Path, target_file: Path, live_path: Path, *, backup: bool
) -> tuple[Path, files.Swapped, str | None]:
    """Finish `conn`'s file (`building`, to be `target_file`) and swap it in under
    `live_path`; return the final file, the swap, and a note to show, if any."""
    files.mark_swapping(live_path, target_file)
    final = files.finish(conn, building)
    swapped = files.swap(live_path, final, backup=backup)
    files.swap_done(live_path)
    log.info("swapped in %s (the api and the consumer switch within a second)", final)
    previous = swapped.previous
    if swapped.was_plain_file:
        # It was a plain file: the rename unlinked it. Its -wal and -shm stay under the old
        # name until the processes that have it open switch over; then they can go.
        await asyncio.sleep(NO_BACKUP_GRACE_SECONDS)
        files.remove_side_files(live_path)
    elif previous is not None and not backup:
        await asyncio.sleep(NO_BACKUP_GRACE_SECONDS)
        files.remove(previous)
        return final, swapped, f"removed the previous projection {previous} (--no-backup)"
    return final, swapped, None
