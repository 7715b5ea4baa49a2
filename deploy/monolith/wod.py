"""The monolith's legacy WOD from its own tables, as the decision record's synchronous design
computed it on every request: the catalog (the exercises not deleted) and the user's
workouts completed yesterday, queried per request; yesterday's exercises excluded; six drawn
at random. The same rules as coach (docs/wod.md), with coach's pure functions where they
are the rule itself: `wod.day.yesterday` (the calendar day before today in the user's zone,
local midnight to local midnight) and `wod.choose.choose_wod` (fewer when fewer remain).

- The zone: the `tz` query parameter, else the token's `zoneinfo` claim, else UTC; a name
  that is not an IANA zone is `UnknownZone` (the app answers 422, as coach does).
- Suggestions: the weight and reps of the user's latest logged performance of the exercise
  (the later `completed_at`, then the greater workout id, its last entry in that workout),
  else the exercise's defaults. A deleted workout is gone from these tables, so the one
  before it counts (coach does the same while it remembers the three newest).
- An erased user has no workouts left here, so no history.

The draw is fresh on every request (the monolith kept no seed); the comparison gate
(`coach rollout compare`) holds it to the same invariants as coach's.
"""

from __future__ import annotations

import random
import zoneinfo
from datetime import UTC, datetime
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.orm import Session

from deploy.monolith.models import Exercise, Workout, WorkoutExercise
from wod.choose import choose_wod
from wod.day import Day, from_us, yesterday

DEFAULT_ZONE = "UTC"


class UnknownZone(ValueError):
    """The zone asked for is not in the IANA list."""


@cache
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}


def zone_of(tz_param: str | None, claim: object) -> ZoneInfo:
    """The user's zone: `tz`, else the `zoneinfo` claim, else UTC (checked against the
    IANA list before use: never a path or a hostile value)."""
    if tz_param is not None:
        name: object = tz_param
        where = "the tz parameter"
    else:
        name = DEFAULT_ZONE if claim is None else claim
        where = "the token's zoneinfo claim"
    if not isinstance(name, str) or len(name) > 64 or name not in _zones():
        raise UnknownZone(f"unknown time zone in {where}")
    return ZoneInfo(name)


def done_between(session: Session, user_id: str, day: Day) -> frozenset[int]:
    """The exercises `user_id` completed in [day.start, day.end)."""
    query = (
        select(WorkoutExercise.exercise_id)
        .join(Workout, Workout.id == WorkoutExercise.workout_id)
        .where(
            Workout.user_id == user_id,
            Workout.completed_at >= from_us(day.start_us),
            Workout.completed_at < from_us(day.end_us),
        )
        .distinct()
    )
    return frozenset(session.scalars(query))


def latest_performances(
    session: Session, user_id: str, exercise_ids: list[int]
) -> dict[int, tuple[float, int]]:
    """Per exercise, (weight, reps) of the user's latest logged performance of it."""
    if not exercise_ids:
        return {}
    query = (
        select(WorkoutExercise.exercise_id, WorkoutExercise.weight, WorkoutExercise.reps)
        .join(Workout, Workout.id == WorkoutExercise.workout_id)
        .where(Workout.user_id == user_id, WorkoutExercise.exercise_id.in_(exercise_ids))
        .order_by(
            WorkoutExercise.exercise_id,
            Workout.completed_at.desc(),
            Workout.id.collate("C").desc(),  # greater as bytes, as coach compares them
            WorkoutExercise.position.desc(),
        )
        .ext(distinct_on(WorkoutExercise.exercise_id))
    )
    return {exercise_id: (weight, reps) for exercise_id, weight, reps in session.execute(query)}


def render(exercise: Exercise, latest: tuple[float, int] | None) -> dict[str, Any]:
    """One exercise of the answer, in coach's shape (api/schemas.py)."""
    weight, reps = (
        latest if latest is not None else (exercise.default_weight, exercise.default_reps)
    )
    return {
        "id": exercise.id,
        "name": exercise.name,
        "description": exercise.description or "",
        "difficulty": exercise.difficulty,
        "muscle_groups": exercise.muscle_groups or [],
        "suggested_weight": float(weight),
        "suggested_reps": int(reps),
    }


def wod_of(
    session: Session, *, user_id: str, zone: ZoneInfo, now: datetime, size: int, rng: random.Random
) -> dict[str, Any]:
    """The WOD of `user_id` at `now`, from the tables of `session`."""
    catalog = {e.id: e for e in session.scalars(select(Exercise).order_by(Exercise.id))}
    # A user id PostgreSQL cannot hold (a NUL in the token's `sub`) has no workouts here.
    known = "\x00" not in user_id
    done = done_between(session, user_id, yesterday(now, zone)) if known else frozenset()
    chosen = choose_wod(list(catalog), done, rng, size)
    latest = latest_performances(session, user_id, chosen) if known else {}
    stamp = now.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    return {
        "exercises": [render(catalog[i], latest.get(i)) for i in chosen],
        "generated_at": stamp,
    }
