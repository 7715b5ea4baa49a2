"""Builders of contract events for tests (plain dicts, as the monolith publishes them)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson

from events import (
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    USER_ERASED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    encode_event,
)

EX, WO = "t.exercises", "t.workouts"
"""Topic names of tests that apply records without a broker."""
ROLES = {EX: "exercises", WO: "workouts"}


def exercise_data(
    exercise_id: int,
    *,
    revision: int = 1,
    name: str | None = None,
    difficulty: int = 3,
    weight: float = 20.0,
    reps: int = 10,
    groups: tuple[int, ...] = (1,),
) -> dict[str, Any]:
    return {
        "id": exercise_id,
        "name": name or f"Exercise {exercise_id}",
        "description": f"How to do exercise {exercise_id}.",
        "difficulty": difficulty,
        "revision": revision,
        "default_weight": weight,
        "default_reps": reps,
        "muscle_groups": [
            {
                "id": g,
                "name": f"Group {g}",
                "body_part": "legs",
                "is_primary": i == 0,
                "intensity": 0.5,
            }
            for i, g in enumerate(groups)
        ],
    }


def upserted(exercise_id: int, **kwargs: Any) -> dict[str, Any]:
    return encode_event(EXERCISE_UPSERTED, exercise_data(exercise_id, **kwargs))


def exercise_deleted(exercise_id: int, revision: int) -> dict[str, Any]:
    return encode_event(EXERCISE_DELETED, {"id": exercise_id, "revision": revision})


def completed(
    workout_id: str, user_id: str | int, at: datetime, exercises: list[tuple[int, float, int]]
) -> dict[str, Any]:
    """exercises: (exercise_id, weight, reps)."""
    return encode_event(
        WORKOUT_COMPLETED,
        {
            "workout_id": workout_id,
            "user_id": user_id,
            "completed_at": at.isoformat(),
            "exercises": [
                {"exercise_id": e, "sets": 3, "reps": r, "weight": w} for e, w, r in exercises
            ],
        },
    )


def workout_deleted(workout_id: str, user_id: str | int) -> dict[str, Any]:
    return encode_event(WORKOUT_DELETED, {"workout_id": workout_id, "user_id": user_id})


def user_erased(user_id: str | int, *, at: datetime | None = None) -> dict[str, Any]:
    """`at`: the erasure's `time` (now by default), written to the microsecond."""
    event = encode_event(USER_ERASED, {"user_id": user_id}, time=at)
    if at is not None:
        event["time"] = at.isoformat(timespec="microseconds").replace("+00:00", "Z")
    return event


def key_of(event: dict[str, Any]) -> bytes:
    data = event["data"]
    return str(data["id"] if "id" in data else data["user_id"]).encode()


def value_of(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event)
