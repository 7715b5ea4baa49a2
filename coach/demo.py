"""Demo data: a realistic exercise catalog and a few days of workouts, as CloudEvents.

Deterministic for a given seed and day, so publishing it twice changes nothing: workout ids
repeat (and count once), catalog revisions repeat (and are stale the second time).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from events import EXERCISE_UPSERTED, WORKOUT_COMPLETED, WORKOUT_DELETED, encode_event

# id: (name, body part)
MUSCLE_GROUPS: dict[int, tuple[str, str]] = {
    1: ("Quadriceps", "legs"),
    2: ("Hamstrings", "legs"),
    3: ("Glutes", "hips"),
    4: ("Calves", "legs"),
    5: ("Chest", "chest"),
    6: ("Latissimus Dorsi", "back"),
    7: ("Lower Back", "back"),
    8: ("Shoulders", "shoulders"),
    9: ("Biceps", "arms"),
    10: ("Triceps", "arms"),
    11: ("Abdominals", "core"),
    12: ("Obliques", "core"),
    13: ("Forearms", "arms"),
    14: ("Trapezius", "back"),
    15: ("Hip Flexors", "hips"),
    16: ("Adductors", "legs"),
}

# (name, difficulty, default weight kg, default reps, [(muscle group, primary, intensity)],
#  description)
P, S = True, False
EXERCISES: list[tuple[str, int, float, int, list[tuple[int, bool, float]], str]] = [
    (
        "Back Squat",
        3,
        40.0,
        8,
        [(1, P, 0.9), (3, P, 0.8), (2, S, 0.4), (7, S, 0.3)],
        "Bar on the upper back, squat until the hips are below the knees, stand up.",
    ),
    (
        "Front Squat",
        4,
        30.0,
        6,
        [(1, P, 0.95), (3, S, 0.6), (11, S, 0.4)],
        "Bar racked on the front of the shoulders, elbows high, squat to depth.",
    ),
    (
        "Deadlift",
        4,
        60.0,
        5,
        [(2, P, 0.8), (3, P, 0.8), (7, P, 0.7), (14, S, 0.4), (13, S, 0.4)],
        "Lift the bar from the floor to standing with a flat back.",
    ),
    (
        "Romanian Deadlift",
        3,
        40.0,
        8,
        [(2, P, 0.9), (3, S, 0.6), (7, S, 0.4)],
        "Hinge at the hips with soft knees, lower the bar along the legs, return.",
    ),
    (
        "Sumo Deadlift",
        4,
        60.0,
        5,
        [(3, P, 0.8), (16, P, 0.7), (1, S, 0.5), (2, S, 0.5)],
        "Wide stance, hands inside the knees, drive the floor apart and stand up.",
    ),
    (
        "Bench Press",
        3,
        40.0,
        8,
        [(5, P, 0.9), (10, S, 0.5), (8, S, 0.4)],
        "Lower the bar to the chest and press it back to straight arms.",
    ),
    (
        "Incline Dumbbell Press",
        3,
        14.0,
        10,
        [(5, P, 0.8), (8, S, 0.5), (10, S, 0.4)],
        "On a bench at 30 degrees, press the dumbbells up over the upper chest.",
    ),
    (
        "Overhead Press",
        3,
        25.0,
        8,
        [(8, P, 0.9), (10, S, 0.5), (14, S, 0.3)],
        "Press the bar from the shoulders to overhead without leg drive.",
    ),
    (
        "Push Press",
        3,
        30.0,
        6,
        [(8, P, 0.8), (1, S, 0.4), (10, S, 0.4)],
        "Dip and drive with the legs, then press the bar overhead.",
    ),
    (
        "Arnold Press",
        2,
        12.0,
        10,
        [(8, P, 0.85), (10, S, 0.3)],
        "Seated dumbbell press that rotates the palms from facing you to facing forward.",
    ),
    (
        "Pull-Up",
        3,
        0.0,
        6,
        [(6, P, 0.9), (9, S, 0.5), (13, S, 0.3)],
        "From a dead hang with an overhand grip, pull the chin over the bar.",
    ),
    (
        "Chin-Up",
        3,
        0.0,
        6,
        [(6, P, 0.8), (9, P, 0.7)],
        "Underhand grip pull-up, chin over the bar.",
    ),
    (
        "Bent-Over Barbell Row",
        3,
        35.0,
        8,
        [(6, P, 0.8), (14, S, 0.5), (9, S, 0.4), (7, S, 0.3)],
        "Hinge forward, pull the bar to the lower ribs, lower under control.",
    ),
    (
        "Lat Pulldown",
        2,
        35.0,
        10,
        [(6, P, 0.85), (9, S, 0.4)],
        "Pull the cable bar to the upper chest, shoulders down.",
    ),
    (
        "Seated Cable Row",
        2,
        30.0,
        10,
        [(6, P, 0.7), (14, S, 0.5), (9, S, 0.4)],
        "Row the handle to the stomach with a tall chest.",
    ),
    (
        "Face Pull",
        1,
        15.0,
        15,
        [(8, P, 0.6), (14, S, 0.5)],
        "Pull a rope at face height apart towards the ears.",
    ),
    (
        "Shrug",
        1,
        40.0,
        12,
        [(14, P, 0.9), (13, S, 0.3)],
        "Lift the shoulders straight up towards the ears, pause, lower.",
    ),
    (
        "Walking Lunge",
        2,
        10.0,
        12,
        [(1, P, 0.8), (3, P, 0.7), (2, S, 0.3)],
        "Step forward into a lunge, alternate legs while walking.",
    ),
    (
        "Bulgarian Split Squat",
        3,
        10.0,
        10,
        [(1, P, 0.85), (3, P, 0.7), (15, S, 0.3)],
        "Rear foot on a bench, squat down on the front leg.",
    ),
    (
        "Goblet Squat",
        1,
        12.0,
        12,
        [(1, P, 0.7), (3, S, 0.5), (11, S, 0.3)],
        "Hold a kettlebell at the chest and squat between the knees.",
    ),
    (
        "Leg Press",
        2,
        80.0,
        10,
        [(1, P, 0.85), (3, S, 0.5)],
        "Press the sled away until the legs are almost straight.",
    ),
    ("Leg Curl", 1, 25.0, 12, [(2, P, 0.9)], "Curl the pad towards the glutes on the machine."),
    (
        "Leg Extension",
        1,
        25.0,
        12,
        [(1, P, 0.9)],
        "Straighten the knees against the pad on the machine.",
    ),
    (
        "Standing Calf Raise",
        1,
        30.0,
        15,
        [(4, P, 0.95)],
        "Rise onto the toes, pause at the top, lower slowly.",
    ),
    (
        "Hip Thrust",
        2,
        40.0,
        10,
        [(3, P, 0.95), (2, S, 0.4)],
        "Upper back on a bench, drive the hips up under a loaded bar.",
    ),
    (
        "Good Morning",
        3,
        30.0,
        10,
        [(2, P, 0.8), (7, P, 0.7), (3, S, 0.5)],
        "Bar on the back, hinge forward with a flat back, return.",
    ),
    (
        "Kettlebell Swing",
        2,
        16.0,
        15,
        [(3, P, 0.8), (2, P, 0.7), (7, S, 0.4), (8, S, 0.2)],
        "Hinge and snap the hips to swing the kettlebell to chest height.",
    ),
    (
        "Power Clean",
        5,
        40.0,
        3,
        [(3, P, 0.8), (2, P, 0.7), (14, P, 0.7), (1, S, 0.5)],
        "Pull the bar explosively from the floor and catch it on the front of the shoulders.",
    ),
    (
        "Snatch",
        5,
        30.0,
        3,
        [(3, P, 0.8), (8, P, 0.7), (14, P, 0.7), (1, S, 0.6)],
        "Pull the bar from the floor to overhead in one movement, catch in a squat.",
    ),
    (
        "Thruster",
        4,
        30.0,
        10,
        [(1, P, 0.8), (8, P, 0.7), (3, S, 0.5)],
        "Front squat straight into an overhead press.",
    ),
    (
        "Wall Ball",
        2,
        9.0,
        20,
        [(1, P, 0.7), (8, S, 0.5)],
        "Squat with a medicine ball and throw it to a target on the wall.",
    ),
    (
        "Box Jump",
        2,
        0.0,
        10,
        [(1, P, 0.7), (4, S, 0.5), (3, S, 0.5)],
        "Jump onto a box with both feet, stand tall, step down.",
    ),
    (
        "Burpee",
        2,
        0.0,
        15,
        [(5, S, 0.5), (1, P, 0.6), (11, S, 0.4), (8, S, 0.4)],
        "Drop to the floor, chest down, jump back up with a clap overhead.",
    ),
    (
        "Push-Up",
        1,
        0.0,
        15,
        [(5, P, 0.8), (10, S, 0.5), (11, S, 0.3)],
        "Lower the chest to the floor with a straight body, push back up.",
    ),
    (
        "Dips",
        3,
        0.0,
        10,
        [(10, P, 0.8), (5, P, 0.6), (8, S, 0.3)],
        "On parallel bars, lower until the shoulders pass the elbows, press up.",
    ),
    (
        "Barbell Curl",
        1,
        20.0,
        10,
        [(9, P, 0.95), (13, S, 0.4)],
        "Curl the bar to the shoulders without swinging.",
    ),
    (
        "Hammer Curl",
        1,
        10.0,
        12,
        [(9, P, 0.8), (13, P, 0.6)],
        "Curl the dumbbells with neutral (palms facing) grip.",
    ),
    (
        "Triceps Rope Pushdown",
        1,
        20.0,
        12,
        [(10, P, 0.95)],
        "Push the rope down to straight arms and spread it at the bottom.",
    ),
    (
        "Skull Crusher",
        2,
        15.0,
        10,
        [(10, P, 0.9)],
        "Lying on a bench, lower an EZ bar to the forehead and extend the elbows.",
    ),
    (
        "Lateral Raise",
        1,
        6.0,
        15,
        [(8, P, 0.9)],
        "Raise the dumbbells to the sides up to shoulder height.",
    ),
    (
        "Plank",
        1,
        0.0,
        3,
        [(11, P, 0.8), (12, S, 0.4)],
        "Hold a straight body on the forearms for 45 to 60 seconds per set.",
    ),
    (
        "Hanging Leg Raise",
        3,
        0.0,
        10,
        [(11, P, 0.85), (15, P, 0.6), (13, S, 0.3)],
        "Hang from a bar and raise straight legs to hip height or higher.",
    ),
    (
        "Russian Twist",
        1,
        8.0,
        20,
        [(12, P, 0.85), (11, S, 0.5)],
        "Seated with the feet up, rotate a weight from side to side.",
    ),
    (
        "Ab Wheel Rollout",
        3,
        0.0,
        10,
        [(11, P, 0.9), (6, S, 0.3)],
        "Roll the wheel forward from the knees as far as control allows, roll back.",
    ),
    (
        "Mountain Climber",
        1,
        0.0,
        30,
        [(11, P, 0.6), (15, S, 0.5), (8, S, 0.3)],
        "In a push-up position, drive the knees to the chest in turn, quickly.",
    ),
    (
        "Farmer's Carry",
        2,
        24.0,
        4,
        [(13, P, 0.9), (14, P, 0.7), (11, S, 0.4)],
        "Walk 40 m holding heavy dumbbells at the sides; reps are lengths.",
    ),
    (
        "Turkish Get-Up",
        4,
        12.0,
        3,
        [(8, P, 0.7), (11, P, 0.7), (3, S, 0.5)],
        "From lying to standing with a kettlebell held overhead, and back.",
    ),
    (
        "Rowing Machine Sprint",
        2,
        0.0,
        4,
        [(6, P, 0.6), (1, S, 0.5), (2, S, 0.4)],
        "Row 250 m hard; reps are sprints.",
    ),
]

USER_ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Asia/Tokyo",
    "UTC",
    "Australia/Sydney",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Europe/London",
]


def catalog_events() -> Iterator[dict[str, Any]]:
    """One fitness.exercise.upserted event per catalog exercise (revision 1)."""
    for index, (name, difficulty, weight, reps, groups, description) in enumerate(EXERCISES):
        exercise_id = index + 1
        data = {
            "id": exercise_id,
            "name": name,
            "description": description,
            "difficulty": difficulty,
            "revision": 1,
            "default_weight": weight,
            "default_reps": reps,
            "muscle_groups": [
                {
                    "id": mg,
                    "name": MUSCLE_GROUPS[mg][0],
                    "body_part": MUSCLE_GROUPS[mg][1],
                    "is_primary": primary,
                    "intensity": intensity,
                }
                for mg, primary, intensity in groups
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
                        "reps": EXERCISES[i][3],
                        "weight": round(EXERCISES[i][2] * rng.uniform(0.8, 1.4) / 2.5) * 2.5,
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
