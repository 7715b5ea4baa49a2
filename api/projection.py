"""Following the live projection file: after a replay swaps a new one in, reopen it.

A background task of each api worker compares, once a second, the identity of the file
`COACH_DB_PATH` resolves to with the one it opened. When a replay has swapped a new file
in, it opens the new one, points the routes at it and drops every cache of the old one.
Requests never wait for this and never fail because of it: until the switch they read the
previous file, which stays consistent (see store/files.py); the old connection is closed
one interval later, when no request can still be using it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from store import files
from store.db import connect
from store.errors import StoreError

if TYPE_CHECKING:
    from api.deps import AppState

log = logging.getLogger(__name__)

CHECK_EVERY_SECONDS = 1.0


def _open_readonly(path: Path) -> sqlite3.Connection:
    return connect(path, readonly=True)


class ProjectionWatcher:
    def __init__(self, path: Path, state: AppState, identity: tuple[int, int] | None) -> None:
        self.path = path
        self.state = state
        self.identity = identity
        self._retired: list[sqlite3.Connection] = []

    def check(self) -> bool:
        """Switch to a swapped-in file if there is one; return whether it switched."""
        for old in self._retired:
            old.close()
        self._retired.clear()
        now = files.identity(self.path)
        if now is None or now == self.identity:
            return False
        try:
            conn, opened = files.open_live(self.path, _open_readonly)
        except (sqlite3.Error, StoreError) as exc:
            # Say, a projection of a newer schema: keep answering from the one we have
            # until this worker is replaced by the matching version of coach.
            log.error("cannot open the swapped-in projection %s: %s", self.path, exc)
            return False
        self._retired.append(self.state.conn)
        self.state.conn = conn
        self.state.reset_caches()
        self.identity = opened
        log.info("projection %s was swapped; now reading %s", self.path, files.live_file(self.path))
        return True

    async def run(self, interval: float = CHECK_EVERY_SECONDS) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                self.check()
            except Exception:  # never let the watcher die silently
                log.exception("checking the projection file failed")

    def close(self) -> None:
        for old in self._retired:
            with contextlib.suppress(sqlite3.Error):
                old.close()
        self._retired.clear()
