"""Each api process's rendered WODs, one per user, dropped when the user's data changes. Pure.

An entry is the WOD's exercises as rendered JSON (everything but `generated_at`), valid for
one local day (the `Day`, which names the zone's bounds), one catalog version and the
user's workouts and performances as they were. The answer is a function of exactly those
(the draw is seeded by them and the suggestions come from them), so an entry is right
until one of them changes:
- the day or the catalog version: the entry no longer matches, and is replaced;
- the user's rows: the projection stamps every change of workouts and performances with a
  growing `change_seq` (store/changes.py); `advance` is given the users changed since the
  stamp it last saw, and drops theirs.

The owner calls `advance` whenever it reads a newer stamp (the api: with the consumer's
status, at most `COACH_STATUS_CACHE_SECONDS` apart), so an entry outlives a change of its
user's data by at most that long. Least recently used entries go first when full.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable

from api.timewindow import Day


class WodCache:
    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("size must be at least 0")
        self.size = size
        self.seq: int | None = None
        """The change stamp the entries are up to date with (None: none seen yet)."""
        self._entries: OrderedDict[str, tuple[Day, int, bytes]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, user_id: str, day: Day, catalog_version: int) -> bytes | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[1] != catalog_version or entry[0] != day:
            return None
        self._entries.move_to_end(user_id)
        return entry[2]

    def put(self, user_id: str, day: Day, catalog_version: int, exercises: bytes) -> None:
        if not self.size or self.seq is None:  # no stamp seen: it could not be dropped
            return
        entries = self._entries
        entries[user_id] = (day, catalog_version, exercises)
        entries.move_to_end(user_id)
        while len(entries) > self.size:
            entries.popitem(last=False)

    def stale(self, seq: int) -> bool:
        """Whether the projection's change stamp `seq` is not the one the entries match."""
        return seq != self.seq

    def advance(self, seq: int, changed_users: Iterable[str] | None) -> None:
        """Now up to date with stamp `seq`: drop the entries of `changed_users` (the users
        changed after the last stamp, up to `seq`), or every entry when that is None.

        A `seq` lower than the last one (another projection file) drops everything; the
        first stamp seen drops nothing (no entry can be older than it).
        """
        if self.seq is not None:
            if changed_users is None or seq < self.seq:
                self._entries.clear()
            else:
                for user_id in changed_users:
                    self._entries.pop(user_id, None)
        self.seq = seq

    def clear(self) -> None:
        """Forget every entry and the stamp (a new projection file)."""
        self._entries.clear()
        self.seq = None
