"""Queries of the projection, for the api and the tools. Plain SQL over the read model."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from store.db import open_as_is
from store.rows import decode_exercises
from wod.history import History, WindowWorkout
from wod.suggestion import Entry, Performance, best_performances


@dataclass(frozen=True, slots=True)
class CatalogExercise:
    id: int
    name: str
    description: str
    difficulty: int
    default_weight: float
    default_reps: int
    muscle_groups: list[dict[str, Any]] = field(default_factory=list)


def catalog_version(conn: sqlite3.Connection) -> int:
    """A number that changes whenever the catalog changes (for caching it)."""
    return conn.execute("SELECT value FROM meta WHERE name = 'catalog_version'").fetchone()[0]


def load_catalog(conn: sqlite3.Connection) -> list[CatalogExercise]:
    """Every live exercise with its muscle groups, ordered by id."""
    impacts: dict[int, list[dict[str, Any]]] = {}
    for exercise_id, mg_id, name, body_part, is_primary, intensity in conn.execute(
        """SELECT exercise_id, muscle_group_id, name, body_part, is_primary, intensity
           FROM exercise_muscle_groups
           ORDER BY exercise_id, is_primary DESC, intensity DESC, muscle_group_id"""
    ):
        impacts.setdefault(exercise_id, []).append(
            {
                "id": mg_id,
                "name": name,
                "body_part": body_part,
                "is_primary": bool(is_primary),
                "intensity": intensity,
            }
        )
    return [
        CatalogExercise(
            id=id_,
            name=name,
            description=description,
            difficulty=difficulty,
            default_weight=default_weight,
            default_reps=default_reps,
            muscle_groups=impacts.get(id_, []),
        )
        for id_, name, description, difficulty, default_weight, default_reps in conn.execute(
            """SELECT id, name, description, difficulty, default_weight, default_reps
               FROM exercises WHERE deleted = 0 ORDER BY id"""
        )
    ]


def history(conn: sqlite3.Connection, *, user_id: str) -> History:
    """The user's workouts still in the window, in one indexed read."""
    rows = conn.execute(
        """SELECT completed_at_us, workout_id, exercises, deleted FROM workouts
           WHERE user_id = ? AND exercises IS NOT NULL""",
        (user_id,),
    ).fetchall()
    rows.sort()  # by (completed_at_us, workout_id): unique per user, so no tie goes further
    return History(
        [WindowWorkout(at, w, decode_exercises(blob), bool(d)) for at, w, blob, d in rows]
    )


def done_between(
    conn: sqlite3.Connection, *, user_id: str, start_us: int, end_us: int
) -> frozenset[int]:
    """Ids of the exercises `user_id` completed in [start_us, end_us)."""
    return history(conn, user_id=user_id).done_between(start_us, end_us)


def performances(
    conn: sqlite3.Connection,
    *,
    user_id: str,
    exercise_ids: Iterable[int],
    recent: History | None = None,
) -> dict[int, Performance]:
    """The user's suggested performance of each of `exercise_ids` that has one, by the
    rule of wod/suggestion.py, over the folded `performances` rows and the
    workouts still in the window (pass `recent` when it was read already)."""
    wanted = set(exercise_ids)
    if not wanted:
        return {}
    entries: dict[int, list[Entry]] = {}
    for exercise_id, at, workout, sets, reps, weight, deleted in conn.execute(
        _performances_sql(len(wanted)), (user_id, *wanted)
    ):
        entries.setdefault(exercise_id, []).append(
            Entry(at, workout, sets, reps, weight, bool(deleted))
        )
    if recent is None:
        recent = history(conn, user_id=user_id)
    for exercise_id, window in recent.entries(wanted).items():
        entries.setdefault(exercise_id, []).extend(window)  # after the folded: seen later
    return best_performances(entries)


_PERFORMANCE = """SELECT exercise_id, completed_at_us, workout_id, sets, reps, weight, deleted
    FROM performances WHERE user_id = ?1 AND exercise_id """
_LOOKUPS_AT_MOST = 32
_PERFORMANCES_SQL: dict[int, str] = {}


def _performances_sql(n: int) -> str:
    """The statement for `n` exercises of one user: up to `_LOOKUPS_AT_MOST`, one primary
    key lookup each, in a UNION ALL. With 12 rows per user, 6 exercises took 21 us against
    28 for `exercise_id IN (...)`, for which SQLite first builds and sorts a temporary table
    of the values (/tmp experiment, 20,000 users; 13.2 against 13.7 with no rows). More
    exercises than that: the IN list."""
    sql = _PERFORMANCES_SQL.get(n)
    if sql is None:
        if n <= _LOOKUPS_AT_MOST:
            sql = " UNION ALL ".join(f"{_PERFORMANCE}= ?{i + 2}" for i in range(n))
        else:
            sql = _PERFORMANCE + "IN (" + ",".join(f"?{i + 2}" for i in range(n)) + ")"
        _PERFORMANCES_SQL[n] = sql
    return sql


def positions(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the next offset to read."""
    return {
        (topic, partition): next_offset
        for topic, partition, next_offset in conn.execute(
            "SELECT topic, partition, next_offset FROM partitions"
        )
    }


def positions_at(path: Path) -> dict[tuple[str, int], int]:
    """`positions` of the file at `path`, at any schema version, on a connection of its own."""
    conn = open_as_is(path)
    try:
        return positions(conn)
    finally:
        conn.close()


def topic_ids(conn: sqlite3.Connection) -> dict[str, bytes]:
    """topic -> its Kafka topic id as first seen by the consumer."""
    return dict(conn.execute("SELECT topic, topic_id FROM topic_ids"))


def stats(conn: sqlite3.Connection) -> dict[str, Any]:
    """What the projection holds, as `coach stats` prints it."""

    def count(sql: str) -> int:
        return conn.execute(sql).fetchone()[0]

    return {
        "exercises": count("SELECT count(*) FROM exercises WHERE deleted = 0"),
        "workouts": count("SELECT count(*) FROM workouts WHERE deleted = 0"),
        "completed_exercises": count(
            "SELECT coalesce(sum(n_exercises), 0) FROM workouts WHERE deleted = 0"
        ),
        "performances": count("SELECT count(*) FROM performances WHERE deleted = 0"),
        "dead_letters": count("SELECT count(*) FROM dead_letters"),
        "unknown_events": count("SELECT value FROM meta WHERE name = 'unknown_events'"),
        "erased_users": count("SELECT count(*) FROM erased_users"),
        "offsets": {
            f"{topic}/{partition}": offset
            for (topic, partition), offset in sorted(positions(conn).items())
        },
    }
