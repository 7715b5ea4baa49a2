"""What a workout says of its exercises: its rows (`CompletedRow`), and per exercise its
`Entry` (the last row for that exercise in that workout). The window's history
(wod/history.py) and the suggestion rule (wod/suggestion.py) both read workouts this way."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple


class CompletedRow(NamedTuple):
    """One exercise as logged in a completed workout."""

    exercise_id: int
    sets: int
    reps: int
    weight: float


class Entry(NamedTuple):
    """What one workout says of one exercise: the last entry for it in that workout."""

    completed_at_us: int
    workout_id: str
    sets: int
    reps: int
    weight: float
    deleted: bool


def workout_entries(
    workout_id: str, completed_at_us: int, rows: Sequence[CompletedRow], *, deleted: bool
) -> dict[int, Entry]:
    """Per exercise of a workout, its entry: the last row of that exercise."""
    return {
        r.exercise_id: Entry(completed_at_us, workout_id, r.sets, r.reps, r.weight, deleted)
        for r in rows
    }
