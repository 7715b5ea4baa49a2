"""Are two samples of WODs drawn from the same distribution of exercises? Pure.

A sample is one list of exercise ids per user. The figure is the total variation distance
(TVD: half the sum of the absolute differences of the two relative frequencies; 0 for the
same, 1 for disjoint). Two honest samples are never at 0: the noise floor says how far apart
they fall by chance, measured on the monolith alone, as Diffy does with its two primaries:
the monolith's two samples (users A and B) are pooled, split at random into two halves of
users many times, and each split's TVD taken. The candidate (coach on users A against the
monolith on users B) passes when its TVD is within the (1 - alpha) quantile of those.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

Sample = Sequence[Sequence[int]]
"""Per user, the exercise ids of their WOD."""

MIN_EXPECTED_PER_EXERCISE = 5
"""Fewer picks than this per catalog exercise on average, and the test says nothing."""


def frequencies(sample: Sample) -> Counter[int]:
    return Counter(exercise_id for wod in sample for exercise_id in wod)


def tvd(a: Counter[int], b: Counter[int]) -> float:
    """Total variation distance between the relative frequencies of two counts."""
    total_a, total_b = sum(a.values()), sum(b.values())
    if not total_a or not total_b:
        return 1.0 if total_a != total_b else 0.0
    return 0.5 * sum(abs(a[k] / total_a - b[k] / total_b) for k in a.keys() | b.keys())


def null_distances(
    first: Sample, second: Sample, *, rounds: int, rng: random.Random
) -> list[float]:
    """TVDs of `rounds` random splits of the pooled users into halves of the two sizes."""
    pooled = [list(wod) for wod in (*first, *second)]
    cut = len(first)
    found = []
    for _ in range(rounds):
        rng.shuffle(pooled)
        found.append(tvd(frequencies(pooled[:cut]), frequencies(pooled[cut:])))
    return sorted(found)


def quantile(ordered: Sequence[float], q: float) -> float:
    """The q-quantile of sorted values (the nearest rank at or above)."""
    index = min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.999999) - 1))
    return ordered[index]


@dataclass(frozen=True, slots=True)
class Distances:
    candidate: float
    """TVD of coach (users A) against the monolith (users B)."""
    floor: float
    """TVD of the monolith (users A) against the monolith (users B)."""
    threshold: float
    """The (1 - alpha) quantile of the monolith's split TVDs: the most noise allows."""
    null_median: float
    expected_per_exercise: float
    """Picks per catalog exercise on average, in the smallest sample."""


def distances(
    *,
    coach: Sample,
    monolith_a: Sample,
    monolith_b: Sample,
    catalog_size: int,
    alpha: float,
    rounds: int,
    rng: random.Random,
) -> Distances:
    null = null_distances(monolith_a, monolith_b, rounds=rounds, rng=rng)
    smallest = min(_picks(coach), _picks(monolith_a), _picks(monolith_b))
    return Distances(
        candidate=tvd(frequencies(coach), frequencies(monolith_b)),
        floor=tvd(frequencies(monolith_a), frequencies(monolith_b)),
        threshold=quantile(null, 1 - alpha),
        null_median=quantile(null, 0.5),
        expected_per_exercise=smallest / catalog_size if catalog_size else 0.0,
    )


def _picks(sample: Iterable[Sequence[int]]) -> int:
    return sum(len(wod) for wod in sample)
