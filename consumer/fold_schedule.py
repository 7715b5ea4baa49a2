"""The fold schedule: once a minute the consumer folds workouts older than the history
window into the performances (store/fold.py), removes dead letters older than
`COACH_DEAD_LETTER_DAYS` (store/dead_letters.py), and brings the erasures to the backups
that replays kept (consumer/backups.py), on its own connection."""

from __future__ import annotations

import logging
import sqlite3

from config.derived import dead_letter_cutoff_us, history_cutoff_us
from config.settings import Settings
from consumer.backups import BackupEraser
from store import dead_letters, fold
from store.db import transaction
from store.instants import now_us

log = logging.getLogger(__name__)

FOLD_EVERY_SECONDS = 60.0


class FoldSchedule:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.next_at = 0.0
        self.backups = BackupEraser(settings.db_path)

    def run_if_due(self, conn: sqlite3.Connection, now: float) -> None:
        """Run if `now` (loop time, seconds) is past the next run's time."""
        if now < self.next_at:
            return
        self.next_at = now + FOLD_EVERY_SECONDS
        at_us = now_us()
        try:
            removed = fold.fold_all(conn, before_us=history_cutoff_us(self.settings, at_us))
            with transaction(conn):
                letters = dead_letters.remove_older(
                    conn, before_us=dead_letter_cutoff_us(self.settings, at_us)
                )
            erased = self.backups.run(conn, at_us)
        except sqlite3.OperationalError as exc:
            log.error("could not prune: %s", exc)
            return
        if erased:
            log.info("applied %d erasures to earlier projection files", erased)
        if removed:
            log.info("folded %d workouts older than %d h", removed, self.settings.history_hours)
        if letters:
            log.info(
                "removed %d dead letters older than %d days",
                letters,
                self.settings.dead_letter_days,
            )
