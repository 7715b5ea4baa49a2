"""The demo data (`coach demo-data`): the catalog read from its data file, the same output."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import orjson

from coach.demo import EXERCISES, MUSCLE_GROUPS, catalog_events, workout_events

# sha256 of the output below as the catalog written as Python literals produced it, before the
# catalog moved to coach/demo_catalog.json (the wall-clock `time` of the catalog and the
# deletions blanked)
OUTPUT_SHA256 = "5dead7dbdd1db99ca762680f1e38f788d41fa16cbb5b53f9e98f2adc486c7bdb"


def _output() -> bytes:
    now = datetime(2026, 11, 28, 7, 15, tzinfo=UTC)
    lines = []
    for event in [*catalog_events(), *workout_events(users=40, days=3, now=now, seed=7)]:
        if event["type"] != "fitness.workout.completed":
            event["time"] = "now"
        lines.append(orjson.dumps(event) + b"\n")
    return b"".join(lines)


def test_demo_output_for_a_fixed_seed_and_day_is_unchanged() -> None:
    """The demo catalog and workouts for seed 7 are byte for byte what they always were."""
    assert hashlib.sha256(_output()).hexdigest() == OUTPUT_SHA256


def test_demo_catalog_file_is_complete() -> None:
    """48 exercises, each naming only known muscle groups with intensities in 0..1."""
    assert len(EXERCISES) == 48
    for exercise in EXERCISES:
        assert 1 <= exercise.difficulty <= 5
        assert exercise.muscle_groups
        for group, _primary, intensity in exercise.muscle_groups:
            assert group in MUSCLE_GROUPS
            assert 0.0 <= intensity <= 1.0
