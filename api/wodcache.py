"""Each api process's rendered WODs, one per user, dropped when the user's data changes. Pure.

An entry is the WOD's exercises as rendered JSON (everything but `generated_at`), valid for
one local day (the `Day`, which names the zone's bounds), one catalog version and the
user's workouts and performances as they were. The answer is a function of exactly those
(the draw is seeded by them and the suggestions come from them), so an entry is right
until one of them changes:
- the day or the catalog version: the entry no longer matches, and is replaced;
- the user's rows: the projection marks how far the changes of workouts and performances
  went (a `ChangeMark`, store/changes.py); `advance` is given the users changed since the
  mark it last saw, and drops theirs.

The owner calls `advance` whenever it reads a newer mark (the api: with the consumer's
status, at most `COACH_STATUS_CACHE_SECONDS` apart), so an entry outlives a change of its
user's data by at most that long. Least recently used entries go first when full.

An entry holds only plain tuples, ints, dates and bytes, which the garbage collector stops
tracking: a full cache adds nothing to the full collections (api/tokencache.py says why).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from datetime import date

from store.changes import ChangeMark
from wod.day import Day


class WodCache:
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("size must be at least 0")
        self.size = size
        self.mark: ChangeMark | None = None
        """The change mark the entries are up to date with (None: none seen yet)."""
        self._entries: OrderedDict[str, tuple[date, int, int, int, bytes]] = OrderedDict()
        """user id -> (the Day's local date, start and end, catalog version, rendered
        exercises): one flat tuple, which the collector untracks the first time it looks."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: str, day: Day, catalog_version: int) -> bytes | None:
        entry = self._entries.get(user_id)
        if (
            entry is None
            or entry[3] != catalog_version
            or entry[1] != day.start_us
            or entry[2] != day.end_us
            or entry[0] != day.local_date
        ):
            return None
        self._entries.move_to_end(user_id)
        return entry[4]

    def put(self, user_id: str, day: Day, catalog_version: int, exercises: bytes) -> None:
        if not self.size or self.mark is None:  # no mark seen: it could not be dropped
            return
        entries = self._entries
        entries[user_id] = (day.local_date, day.start_us, day.end_us, catalog_version, exercises)
        entries.move_to_end(user_id)
        while len(entries) > self.size:
            entries.popitem(last=False)

    def stale(self, mark: ChangeMark) -> bool:
        """Whether the projection's change mark is not the one the entries match."""
        return mark != self.mark

    def advance(self, mark: ChangeMark, changed_users: Iterable[str] | None) -> None:
        """Now up to date with `mark`: drop the entries of `changed_users` (the users
        changed after the last mark, up to `mark`), or every entry when that is None.

        A mark that does not follow the last one (the fold let a rowid be reused, or another
        projection file) drops everything; the first mark seen drops nothing (no entry can
        be older than it).
        """
        last = self.mark
        if last is not None:
            if changed_users is None or not mark.follows(last):
                self._entries.clear()
            else:
                for user_id in changed_users:
                    self._entries.pop(user_id, None)
        self.mark = mark

    def forget(self, users: Iterable[str]) -> None:
        """Drop the entries of `users` (erased)."""
        for user_id in users:
            self._entries.pop(user_id, None)

    def clear(self) -> None:
        """Forget every entry and the mark (a new projection file)."""
        self._entries.clear()
        self.mark = None
