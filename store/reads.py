"""Queries of the projection, for the api and the tools. Plain SQL over the read model."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from store.rows import CompletedRow, decode_exercises


@dataclass(frozen=True, slots=True)
class CatalogExercise:
    id: int
    name: str
    description: str
    difficulty: int
    default_weight: float
    default_reps: int
    muscle_groups: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Performance:
    weight: float
    reps: int


def catalog_version(conn: sqlite3.Connection) -> int:
    """A number that changes whenever the catalog changes (for caching it)."""
    return conn.execute("SELECT value FROM meta WHERE name = 'catalog_version'").fetchone()[0]


def load_catalog(conn: sqlite3.Connection) -> list[CatalogExercise]:
    """Every live exercise with its muscle groups, ordered by id."""
    impacts: dict[int, list[dict[str, Any]]] = {}
    for exercise_id, mg_id, name, body_part, is_primary, intensity in conn.execute(
        """SELECT emg.exercise_id, mg.id, mg.name, mg.body_part, emg.is_primary, emg.intensity
           FROM exercise_muscle_groups emg JOIN muscle_groups mg ON mg.id = emg.muscle_group_id
           ORDER BY emg.exercise_id, emg.is_primary DESC, emg.intensity DESC, mg.id"""
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


@dataclass(frozen=True, slots=True)
class History:
    """A user's workouts not yet folded (the window), newest last: (completed_at_us, rows)."""

    workouts: list[tuple[int, list[CompletedRow]]]

    def done_between(self, start_us: int, end_us: int) -> frozenset[int]:
        """Ids of the exercises completed in [start_us, end_us)."""
        return frozenset(
            row.exercise_id for at, rows in self.workouts if start_us <= at < end_us for row in rows
        )

    def latest(self, exercise_ids: Iterable[int]) -> dict[int, tuple[int, Performance]]:
        """Per exercise, (completed_at_us, the last entry of the newest workout holding it)."""
        wanted = set(exercise_ids)
        found: dict[int, tuple[int, Performance]] = {}
        for at, rows in self.workouts:
            for row in rows:
                if row.exercise_id in wanted:
                    found[row.exercise_id] = (at, Performance(row.weight, row.reps))
        return found


def history(conn: sqlite3.Connection, *, user_id: str) -> History:
    """The user's workouts still in the window, in one indexed read."""
    rows = conn.execute(
        """SELECT completed_at_us, exercises FROM workouts
           WHERE user_id = ? AND deleted = 0""",
        (user_id,),
    ).fetchall()
    rows.sort(key=lambda r: r[0])
    return History([(at, decode_exercises(blob)) for at, blob in rows])


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
    """The user's latest logged performance of each of `exercise_ids` that has one: the
    newest of the folded `performances` rows and the workouts still in the window (pass
    `recent` when it was read already)."""
    wanted = set(exercise_ids)
    if not wanted:
        return {}
    latest: dict[int, tuple[int, Performance]] = {}
    marks = ",".join("?" * len(wanted))
    for exercise_id, at, weight, reps in conn.execute(
        f"""SELECT exercise_id, completed_at_us, weight, reps FROM performances
            WHERE user_id = ? AND exercise_id IN ({marks})""",
        (user_id, *wanted),
    ):
        latest[exercise_id] = (at, Performance(weight, reps))
    if recent is None:
        recent = history(conn, user_id=user_id)
    for exercise_id, (at, perf) in recent.latest(wanted).items():
        held = latest.get(exercise_id)
        if held is None or at >= held[0]:
            latest[exercise_id] = (at, perf)
    return {exercise_id: perf for exercise_id, (_, perf) in latest.items()}


def positions(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
    """(topic, partition) -> the next offset to read."""
    return {
        (topic, partition): next_offset
        for topic, partition, next_offset in conn.execute(
            "SELECT topic, partition, next_offset FROM partitions"
        )
    }


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
        "performances": count("SELECT count(*) FROM performances"),
        "dead_letters": count("SELECT count(*) FROM dead_letters"),
        "unknown_events": count("SELECT value FROM meta WHERE name = 'unknown_events'"),
        "offsets": {
            f"{topic}/{partition}": offset
            for (topic, partition), offset in sorted(positions(conn).items())
        },
    }
