"""The projection lock: one consumer (and its writer process) writes a projection file."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from consumer.kafka import sleep_unless
from store import files

log = logging.getLogger(__name__)

LOCK_RETRY_SECONDS = 0.2


async def wait_for_lock(path: Path, stop: asyncio.Event) -> int | None:
    """Wait until this is the only consumer writing the projection at `path` (a previous
    one's writer process may still be exiting); the lock's descriptor, None if stopped
    meanwhile."""
    logged = False
    while (lock := files.writer_lock(path)) is None:
        if not logged:
            log.warning(
                "another consumer (or its writer process) is writing %s; waiting for it", path
            )
            logged = True
        await sleep_unless(stop, LOCK_RETRY_SECONDS)
        if stop.is_set():
            return None
    return lock
