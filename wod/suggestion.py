"""The suggested weight and reps of an exercise: one rule, for the fold and for the api.

What a workout says of an exercise is an `Entry` (wod/entries.py): the last row for that
exercise in that workout. Of a user's entries for one exercise, the projection keeps the
`KEPT_PER_EXERCISE` newest workouts' (deleted workouts included: `newest_entries`, applied
when the consumer folds old workouts away, store/fold.py). The suggestion is the newest of
those that is not deleted (`suggested_entry`): its weight and reps; with none, the
exercise's catalog defaults (`suggest`). Pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from wod.entries import Entry, workout_entries

KEPT_PER_EXERCISE = 3
"""How many of a user's newest workouts holding an exercise the projection remembers, deleted
ones included (store/fold.py `fold_and_prune`)."""


def newest_entries(entries: Iterable[Entry], keep: int = KEPT_PER_EXERCISE) -> list[Entry]:
    """The `keep` newest entries of one user and exercise, newest first.

    Newest: the later `completed_at_us`, then the greater `workout_id` (a total order, so
    that ties never depend on arrival). Entries of one workout count once: the first one
    given (the earliest seen: pass folded entries before the window's), deleted if any of
    them is. Deleted entries count among the `keep`: that is what makes the rule the same
    whether a workout was deleted before or after it was folded."""
    by_workout: dict[str, Entry] = {}
    for e in entries:
        held = by_workout.get(e.workout_id)
        if held is None:
            by_workout[e.workout_id] = e
        elif e.deleted and not held.deleted:
            by_workout[e.workout_id] = held._replace(deleted=True)
    ordered = sorted(by_workout.values(), key=_recency, reverse=True)
    return ordered[:keep]


def suggested_entry(entries: Iterable[Entry]) -> Entry | None:
    """Among the user's `KEPT_PER_EXERCISE` newest workouts holding the exercise (deleted
    ones included), the newest not deleted; None (the exercise's defaults) when there is
    none."""
    for e in newest_entries(entries):
        if not e.deleted:
            return e
    return None


def _recency(e: Entry) -> tuple[int, str]:
    return (e.completed_at_us, e.workout_id)


@dataclass(frozen=True, slots=True)
class Performance:
    """The weight and reps of a suggested entry."""

    weight: float
    reps: int


def best_performances(entries: Mapping[int, Iterable[Entry]]) -> dict[int, Performance]:
    """Per exercise, the performance of its suggested entry; exercises with none left out."""
    found = {}
    for exercise_id, candidates in entries.items():
        best = suggested_entry(candidates)
        if best is not None:
            found[exercise_id] = Performance(best.weight, best.reps)
    return found


class Suggestion(NamedTuple):
    weight: float
    reps: int


def suggest(
    *, default_weight: float, default_reps: int, latest: tuple[float, int] | None
) -> Suggestion:
    """The suggested performance, else the catalog defaults."""
    if latest is None:
        return Suggestion(default_weight, default_reps)
    return Suggestion(float(latest[0]), int(latest[1]))


__all__ = [
    "KEPT_PER_EXERCISE",
    "Entry",
    "Performance",
    "Suggestion",
    "best_performances",
    "newest_entries",
    "suggest",
    "suggested_entry",
    "workout_entries",
]
