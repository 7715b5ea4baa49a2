"""Ordered schema migrations, applied at start-up by whichever process opens the file first.

Each migration is a function registered in order; `PRAGMA user_version` records how many
have run. All run inside one `BEGIN IMMEDIATE` transaction, so two processes starting at
once cannot both migrate.

A change that cannot be made in place is done by a replay: register it with
`@migration(rebuild=True)`. A new file runs it like any other; an existing file older than
it is refused with NeedsReplay, and `coach replay` builds a new file at the new version.
When a change needs that is said in the README ("Schema changes").
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import overload

from store.errors import NeedsReplay, SchemaTooNew

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


@migration
def m001_initial(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- The catalog. A deleted exercise keeps its row (deleted = 1) so that a stale upsert
        -- with a lower or equal revision cannot bring it back.
        CREATE TABLE exercises (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            description TEXT NOT NULL,
            difficulty INTEGER NOT NULL,
            default_weight REAL NOT NULL,
            default_reps INTEGER NOT NULL,
            revision INTEGER,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE muscle_groups (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            body_part TEXT NOT NULL
        );
        CREATE TABLE exercise_muscle_groups (
            exercise_id INTEGER NOT NULL,
            muscle_group_id INTEGER NOT NULL,
            is_primary INTEGER NOT NULL,
            intensity REAL NOT NULL,
            PRIMARY KEY (exercise_id, muscle_group_id)
        ) WITHOUT ROWID;

        -- Completed workouts not yet folded into `performances`: those of the history
        -- window (and, until the next fold, older ones that arrived late). One row per
        -- workout, appended in arrival order; the unique index finds a user's rows and
        -- makes a redelivered workout a no-op. `exercises` is JSON [[exercise_id, sets,
        -- reps, weight], ...]. A deleted workout keeps its row (deleted = 1, exercises
        -- NULL) so a late duplicate is not counted again; it is pruned with the window.
        CREATE TABLE workouts (
            user_id TEXT NOT NULL,
            workout_id TEXT NOT NULL,
            completed_at_us INTEGER NOT NULL,
            exercises BLOB,
            n_exercises INTEGER NOT NULL DEFAULT 0,
            deleted INTEGER NOT NULL DEFAULT 0
        );
        CREATE UNIQUE INDEX workouts_by_user ON workouts (user_id, workout_id);

        -- Each user's latest logged performance per exercise of the workouts folded out
        -- of the window (kept for the suggestions).
        CREATE TABLE performances (
            user_id TEXT NOT NULL,
            exercise_id INTEGER NOT NULL,
            workout_id TEXT NOT NULL,
            completed_at_us INTEGER NOT NULL,
            sets INTEGER NOT NULL,
            reps INTEGER NOT NULL,
            weight REAL NOT NULL,
            PRIMARY KEY (user_id, exercise_id)
        ) WITHOUT ROWID;

        -- Per topic-partition: the next offset to read, stored in the same transaction as
        -- the rows its records produced; and what the consumer last saw of the partition.
        CREATE TABLE partitions (
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            next_offset INTEGER NOT NULL,
            high_watermark INTEGER,
            last_event_at_us INTEGER,
            updated_at_us INTEGER NOT NULL,
            PRIMARY KEY (topic, partition)
        ) WITHOUT ROWID;

        CREATE TABLE dead_letters (
            id INTEGER PRIMARY KEY,
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            "offset" INTEGER NOT NULL,
            key BLOB,
            value BLOB,
            error TEXT NOT NULL,
            failed_at_us INTEGER NOT NULL,
            UNIQUE (topic, partition, "offset")
        );

        -- Named numbers: catalog_version (bumped on every catalog change), counters.
        CREATE TABLE meta (
            name TEXT PRIMARY KEY,
            value INTEGER NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO meta (name, value) VALUES ('catalog_version', 0), ('unknown_events', 0);

        -- The consumer's own status, one row, for the api's /ready and /lag.
        CREATE TABLE consumer_status (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            heartbeat_at_us INTEGER,
            broker_reachable INTEGER NOT NULL DEFAULT 0,
            last_error TEXT
        );
        INSERT INTO consumer_status (singleton) VALUES (1);
        """,
    )


@migration
def m002_change_seq(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- Which users' data changed, for the api's per-user caches (store/changes.py).
        -- Changed workout rows are those above the highest rowid seen: a completed workout
        -- is a new row, a deleted one's marker moves to a new highest rowid, and
        -- `meta.rowid_epoch` grows when the fold removes the row of the highest rowid
        -- (SQLite may then reuse it). The performances the fold writes are stamped with the
        -- next `meta.change_seq` (one step per statement). `workouts` is unchanged: the
        -- ingest path writes nothing more for this.
        ALTER TABLE performances ADD COLUMN changed_seq INTEGER NOT NULL DEFAULT 0;
        CREATE INDEX performances_by_change ON performances (changed_seq);
        INSERT INTO meta (name, value) VALUES ('change_seq', 0), ('rowid_epoch', 0);
        """,
    )


@migration
def m003_a_function_of_the_topics(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- What a row holds follows from the topics alone, whenever the fold runs:
        -- A deleted workout's marker keeps the workout's time and exercises while in the
        -- window, and records when it was deleted: the delete record's Kafka timestamp,
        -- never the clock of the consumer that applied it.
        ALTER TABLE workouts ADD COLUMN deleted_at_us INTEGER;
        UPDATE workouts SET deleted_at_us = completed_at_us WHERE deleted = 1;

        -- Up to KEPT_PER_EXERCISE (wod/suggestion.py) of each user's newest workouts holding an
        -- exercise, deleted ones included: deleting the newest brings the one before back.
        CREATE TABLE performances_kept (
            user_id TEXT NOT NULL,
            exercise_id INTEGER NOT NULL,
            workout_id TEXT NOT NULL,
            completed_at_us INTEGER NOT NULL,
            sets INTEGER NOT NULL,
            reps INTEGER NOT NULL,
            weight REAL NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            changed_seq INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (user_id, exercise_id, workout_id)
        ) WITHOUT ROWID;
        INSERT INTO performances_kept
          SELECT user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight, 0,
                 changed_seq
          FROM performances;
        DROP TABLE performances;
        ALTER TABLE performances_kept RENAME TO performances;
        CREATE INDEX performances_by_change ON performances (changed_seq);

        -- A muscle group's name and body part as each exercise gives them: a row shared by
        -- all exercises was named by whichever upsert came last, across partitions.
        ALTER TABLE exercise_muscle_groups ADD COLUMN name TEXT NOT NULL DEFAULT '';
        ALTER TABLE exercise_muscle_groups ADD COLUMN body_part TEXT NOT NULL DEFAULT '';
        UPDATE exercise_muscle_groups SET
          name = coalesce((SELECT name FROM muscle_groups m WHERE m.id = muscle_group_id), ''),
          body_part = coalesce(
            (SELECT body_part FROM muscle_groups m WHERE m.id = muscle_group_id), '');
        DROP TABLE muscle_groups;

        -- The dead record's Kafka timestamp, so that a retry applies it as it was.
        ALTER TABLE dead_letters ADD COLUMN timestamp_ms INTEGER;
        """,
    )


@migration
def m004_assigned_partitions(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- Every partition the consumer is assigned, rewritten with each heartbeat, so that
        -- /lag and /ready see partitions not read yet (no row in `partitions`, whose
        -- next_offset the consumer seeks to). `start_offset` is where reading starts (the
        -- partition's first offset when it was assigned); `high_watermark` the latest known.
        CREATE TABLE assigned_partitions (
            topic TEXT NOT NULL,
            partition INTEGER NOT NULL,
            start_offset INTEGER NOT NULL,
            high_watermark INTEGER,
            updated_at_us INTEGER NOT NULL,
            PRIMARY KEY (topic, partition)
        ) WITHOUT ROWID;

        -- Each topic's Kafka topic id (16 bytes) when the consumer first read it: a topic
        -- deleted and created again has a new id, and its offsets start again.
        CREATE TABLE topic_ids (
            topic TEXT PRIMARY KEY,
            topic_id BLOB NOT NULL,
            seen_at_us INTEGER NOT NULL
        ) WITHOUT ROWID;
        """,
    )


@migration
def m005_erased_users(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- Users the monolith erased (fitness.user.erased), with the erasure's instant (see
        -- store/erasure.py): none of their workouts completed at or before it is stored,
        -- whenever it arrives (a redelivery, another partition, a replay). `seq` stamps
        -- each erasure applied (meta.erasure_seq), so that each api process drops what it
        -- holds of the users erased since it last looked.
        CREATE TABLE erased_users (
            user_id TEXT PRIMARY KEY,
            erased_at_us INTEGER NOT NULL,
            seq INTEGER NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX erased_users_by_seq ON erased_users (seq);
        INSERT INTO meta (name, value) VALUES ('erasure_seq', 0), ('erasure_version', 0);

        -- A dead letter of an erased user keeps its place and reason; its key and value
        -- are dropped, and this says when.
        ALTER TABLE dead_letters ADD COLUMN redacted_at_us INTEGER;
        """,
    )


@migration
def m006_dead_letter_headers(conn: sqlite3.Connection) -> None:
    run_script(
        conn,
        """
        -- A dead letter keeps its record's Kafka headers (msgpack [[name, value], ...]; NULL
        -- for none): a binary-mode CloudEvent's attributes are there (ce_*), so a retry
        -- needs them. Redacted letters drop them with the key and value.
        ALTER TABLE dead_letters ADD COLUMN headers BLOB;
        """,
    )


@migration
def m007_dead_letter_users(conn: sqlite3.Connection) -> None:
    from store.dead_letter_users import index_all

    # Which users each dead letter names (store/dead_letter_users.py), for redaction.
    conn.execute(
        """CREATE TABLE dead_letter_users (
             user_id TEXT NOT NULL, letter_id INTEGER NOT NULL,
             PRIMARY KEY (user_id, letter_id)) WITHOUT ROWID"""
    )
    conn.execute("CREATE INDEX dead_letter_users_by_letter ON dead_letter_users (letter_id)")
    index_all(conn)


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


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run a script's statements one by one, inside the caller's transaction.

    (`executescript()` would commit first, which would break the one-transaction rule.)
    """
    buf = ""
    for line in script.splitlines(keepends=True):
        if line.strip().startswith("--"):
            continue
        buf += line
        if sqlite3.complete_statement(buf):
            conn.execute(buf)
            buf = ""
    if buf.strip():
        conn.execute(buf)
