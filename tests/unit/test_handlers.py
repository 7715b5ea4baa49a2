"""consumer/handlers.py's pure parts: the rows an exercise becomes, and the context a
record's handler gets (tests/integration/test_projection.py and test_erasure.py apply
them to SQLite)."""

from __future__ import annotations

from consumer.handlers import Context, exercise_rows
from events.models import Exercise, MuscleGroupImpact
from store.rows import ExerciseRow, ImpactRow


def test_an_exercise_becomes_its_row_and_one_impact_per_muscle_group():
    exercise = Exercise(
        id=4,
        name="Squat",
        description="Legs",
        difficulty=3,
        revision=9,
        default_weight=40.0,
        default_reps=8,
        muscle_groups=[
            MuscleGroupImpact(
                id=1, name="Quadriceps", body_part="legs", is_primary=True, intensity=0.9
            ),
            MuscleGroupImpact(
                id=2, name="Glutes", body_part="hips", is_primary=False, intensity=0.5
            ),
            # the same group twice: the last one given counts, once
            MuscleGroupImpact(
                id=1, name="Quads", body_part="thighs", is_primary=False, intensity=0.7
            ),
        ],
    )
    row, impacts = exercise_rows(exercise)
    assert row == ExerciseRow(4, "Squat", "Legs", 3, 40.0, 8, 9)
    assert impacts == [
        ImpactRow(1, "Quads", "thighs", False, 0.7),
        ImpactRow(2, "Glutes", "hips", False, 0.5),
    ]


def test_a_record_s_context_keeps_the_clock_and_takes_the_record_s_times():
    batch = Context(now_us=5_000_000)
    assert batch.for_record(1_700_000_000_123) == Context(5_000_000, 1_700_000_000_123_000, None)
    assert batch.for_record(7, erased_at_us=42) == Context(5_000_000, 7_000, 42)
    assert batch.for_record(None) == Context(5_000_000, None, None)  # a record without a time
    assert batch.for_record(None, erased_at_us=42) == Context(5_000_000, None, 42)
    assert batch.for_record(None).event_at_us == 5_000_000
    assert batch.for_record(0).event_at_us == 0
