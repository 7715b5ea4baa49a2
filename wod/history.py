"""A user's workouts still in the window (not yet folded), and what the rules read of them:
the exercises done in a span, and each workout's entries per exercise."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

from wod.entries import CompletedRow, Entry, workout_entries


class WindowWorkout(NamedTuple):
    """A workout still in the window: completed, or deleted (its marker keeps its rows)."""

    completed_at_us: int
    workout_id: str
    rows: list[CompletedRow]
    deleted: bool = False


@dataclass(frozen=True, slots=True)
class History:
    """A user's workouts not yet folded (the window), oldest first."""

    workouts: list[WindowWorkout]

    def done_between(self, start_us: int, end_us: int) -> frozenset[int]:
        """Ids of the exercises completed in [start_us, end_us) (deleted workouts: none)."""
        return frozenset(
            row.exercise_id
            for w in self.workouts
            if not w.deleted and start_us <= w.completed_at_us < end_us
            for row in w.rows
        )

    def entries(self, exercise_ids: Iterable[int]) -> dict[int, list[Entry]]:
        """Per exercise, what each window workout says of it (wod/entries.py `Entry`)."""
        wanted = set(exercise_ids)
        found: dict[int, list[Entry]] = {}
        for w in self.workouts:
            rows = [r for r in w.rows if r.exercise_id in wanted]
            if not rows:
                continue
            each = workout_entries(w.workout_id, w.completed_at_us, rows, deleted=w.deleted)
            for exercise_id, entry in each.items():
                found.setdefault(exercise_id, []).append(entry)
        return found


__all__ = ["CompletedRow", "History", "WindowWorkout"]
