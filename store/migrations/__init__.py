"""Ordered schema migrations, applied at start-up by whichever process opens the file first.

Each migration is a function in its own module (`m001_initial.py`, ...), registered below in
order; `PRAGMA user_version` records how many have run. All run inside one `BEGIN IMMEDIATE`
transaction, so two processes starting at once cannot both migrate.

A change that cannot be made in place is done by a replay: register it with
`migration(rebuild=True)(fn)`. A new file runs it like any other; an existing file older
than it is refused with NeedsReplay, and `coach replay` builds a new file at the new version.
When a change needs that is said in the README ("Schema changes").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import overload

from store.errors import NeedsReplay, SchemaTooNew
from store.migrations.m001_initial import m001_initial
from store.migrations.m002_change_seq import m002_change_seq
from store.migrations.m003_a_function_of_the_topics import m003_a_function_of_the_topics
from store.migrations.m004_assigned_partitions import m004_assigned_partitions
from store.migrations.m005_erased_users import m005_erased_users
from store.migrations.m006_dead_letter_headers import m006_dead_letter_headers
from store.migrations.m007_dead_letter_users import m007_dead_letter_users
from store.migrations.script import run_script

Migration = Callable[[sqlite3.Connection], None]
MIGRATIONS: list[Migration] = []
REBUILDS: set[int] = set()
"""Indexes in MIGRATIONS of the migrations that existing files cannot run in place."""


@overload
def migration(fn: Migration, /) -> Migration: ...
@overload
def migration(*, rebuild: bool) -> Callable[[Migration], Migration]: ...
def migration(
    fn: Migration | None = None, /, *, rebuild: bool = False
) -> Migration | Callable[[Migration], Migration]:
    """Register the next migration; `rebuild=True` when existing rows cannot be converted
    in place (they must be derived from the events again)."""

    def register(f: Migration) -> Migration:
        if rebuild:
            REBUILDS.add(len(MIGRATIONS))
        MIGRATIONS.append(f)
        return f

    return register(fn) if fn is not None else register


# The migrations, in order. Append a new one's module here; never reorder or remove one.
migration(m001_initial)
migration(m002_change_seq)
migration(m003_a_function_of_the_topics)
migration(m004_assigned_partitions)
migration(m005_erased_users)
migration(m006_dead_letter_headers)
migration(m007_dead_letter_users)


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema up to date; return its version. Safe to call from many processes."""
    latest = len(MIGRATIONS)
    current = conn.execute("PRAGMA user_version").fetchone()[0]
    if current == latest:
        return current
    conn.execute("BEGIN IMMEDIATE")
    try:
        current = conn.execute("PRAGMA user_version").fetchone()[0]
        if current > latest:
            raise SchemaTooNew(
                f"database schema version {current} is newer than this coach ({latest})"
            )
        blocking = [
            MIGRATIONS[i].__name__ for i in sorted(REBUILDS) if current > 0 and i >= current
        ]
        if blocking:
            raise NeedsReplay(
                f"the projection's schema version is {current}; this coach's is {latest}, and "
                f"{', '.join(blocking)} cannot be applied in place: rebuild the projection "
                "from the topics with `coach replay` (run by this version of coach)"
            )
        for fn in MIGRATIONS[current:]:
            fn(conn)
        conn.execute(f"PRAGMA user_version = {latest}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return latest


__all__ = ["MIGRATIONS", "REBUILDS", "migrate", "migration", "run_script"]
