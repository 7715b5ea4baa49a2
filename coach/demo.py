"""Demo data: a realistic exercise catalog and a few days of workouts, as CloudEvents.

The catalog itself (muscle groups, exercises, the users' time zones) is data, in
`coach/demo_catalog.json` shipped with the package; this module turns it into events.

Deterministic for a given seed and day, so publishing it twice changes nothing: workout ids
repeat (and count once), catalog revisions repeat (and are stale the second time).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

from events import EXERCISE_UPSERTED, WORKOUT_COMPLETED, WORKOUT_DELETED, encode_event


@dataclass(frozen=True)
class DemoExercise:
    """One exercise of the demo catalog (its id is its position in the file, from 1)."""

    name: str
    difficulty: int
    default_weight: float
    default_reps: int
    description: str
    # (muscle group id, is primary, intensity)
    muscle_groups: tuple[tuple[int, bool, float], ...]


def _load_catalog() -> tuple[dict[int, tuple[str, str]], list[DemoExercise], list[str]]:
    """Read the demo catalog shipped with the package (`demo_catalog.json`)."""
    text = resources.files("coach").joinpath(CATALOG_FILE).read_text(encoding="utf-8")
    doc = json.loads(text)
    groups = {g["id"]: (g["name"], g["body_part"]) for g in doc["muscle_groups"]}
    exercises = [
        DemoExercise(
            name=e["name"],
            difficulty=e["difficulty"],
            default_weight=float(e["default_weight"]),
            default_reps=e["default_reps"],
            description=e["description"],
            muscle_groups=tuple(
                (g["id"], g["is_primary"], float(g["intensity"])) for g in e["muscle_groups"]
            ),
        )
        for e in doc["exercises"]
    ]
    return groups, exercises, list(doc["user_zones"])


CATALOG_FILE = "demo_catalog.json"
# id: (name, body part); the exercises in id order; the time zones users are spread over
MUSCLE_GROUPS, EXERCISES, USER_ZONES = _load_catalog()


def catalog_events() -> Iterator[dict[str, Any]]:
    """One fitness.exercise.upserted event per catalog exercise (revision 1)."""
    for index, exercise in enumerate(EXERCISES):
        exercise_id = index + 1
        data = {
            "id": exercise_id,
            "name": exercise.name,
            "description": exercise.description,
            "difficulty": exercise.difficulty,
            "revision": 1,
            "default_weight": exercise.default_weight,
            "default_reps": exercise.default_reps,
            "muscle_groups": [
                {
                    "id": mg,
                    "name": MUSCLE_GROUPS[mg][0],
                    "body_part": MUSCLE_GROUPS[mg][1],
                    "is_primary": primary,
                    "intensity": intensity,
                }
                for mg, primary, intensity in exercise.muscle_groups
            ],
        }
        yield encode_event(EXERCISE_UPSERTED, data, event_id=f"demo-exercise-{exercise_id}-r1")


def user_zone(user_id: int) -> str:
    return USER_ZONES[user_id % len(USER_ZONES)]


def workout_events(
    *, users: int, days: int, now: datetime, seed: int = 7, delete_ratio: float = 0.02
) -> Iterator[dict[str, Any]]:
    """Workouts of users 1..`users` on each of the last `days` local days (today included).

    About 70% of user-days have a workout of 3 to 6 exercises; weights drift around the
    defaults. About `delete_ratio` of workouts are deleted again.
    """
    for user_id in range(1, users + 1):
        tz = ZoneInfo(user_zone(user_id))
        today = now.astimezone(tz).date()
        for back in range(days - 1, -1, -1):
            day = today - timedelta(days=back)
            rng = random.Random(f"{seed}/{user_id}/{day.isoformat()}")
            if rng.random() > 0.7:
                continue
            start = datetime.combine(day, time(6, 0), tzinfo=tz)
            completed_at = start + timedelta(minutes=rng.randrange(0, 15 * 60))
            if completed_at > now:
                continue
            picks = rng.sample(range(len(EXERCISES)), rng.randint(3, 6))
            workout_id = f"demo-{user_id}-{day.isoformat()}"
            data = {
                "workout_id": workout_id,
                "user_id": str(user_id) if user_id % 2 else user_id,  # both forms occur
                "completed_at": completed_at.isoformat(),
                "exercises": [
                    {
                        "exercise_id": i + 1,
                        "sets": rng.randint(3, 5),
                        "reps": EXERCISES[i].default_reps,
                        "weight": round(EXERCISES[i].default_weight * rng.uniform(0.8, 1.4) / 2.5)
                        * 2.5,
                    }
                    for i in picks
                ],
            }
            yield encode_event(
                WORKOUT_COMPLETED,
                data,
                event_id=f"{workout_id}-completed",
                time=completed_at.astimezone(UTC),
            )
            if rng.random() < delete_ratio:
                yield encode_event(
                    WORKOUT_DELETED,
                    {"workout_id": workout_id, "user_id": str(user_id)},
                    event_id=f"{workout_id}-deleted",
                )
