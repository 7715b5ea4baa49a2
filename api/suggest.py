"""The suggested weight and reps of an exercise. Pure.

Rule: the user's latest logged performance of that exercise (weight and reps of its last
entry in their most recent workout that holds it) when the projection has one; otherwise the
exercise's catalog defaults.
"""

from __future__ import annotations

from typing import NamedTuple


class Suggestion(NamedTuple):
    weight: float
    reps: int


def suggest(
    *, default_weight: float, default_reps: int, latest: tuple[float, int] | None
) -> Suggestion:
    if latest is None:
        return Suggestion(default_weight, default_reps)
    return Suggestion(float(latest[0]), int(latest[1]))
