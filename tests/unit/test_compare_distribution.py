"""The comparison gate's distribution test and verdict (rollout/distribution.py,
rollout/compare.py), on samples drawn here with wod/choose.py's own rule."""

from __future__ import annotations

import random
from collections import Counter

import orjson
import pytest

from rollout.compare import Asked, judge
from rollout.distribution import null_distances, quantile, tvd
from rollout.invariants import Answer
from rollout.known import CatalogExercise
from wod.choose import choose_wod

CATALOG = {i: CatalogExercise(i, f"Exercise {i}") for i in range(1, 49)}


def test_tvd():
    """0 for the same frequencies, 1 for disjoint ones, half the L1 distance in between."""
    assert tvd(Counter({1: 2, 2: 2}), Counter({1: 5, 2: 5})) == 0
    assert tvd(Counter({1: 3}), Counter({2: 3})) == 1
    assert tvd(Counter({1: 3, 2: 1}), Counter({1: 1, 2: 1})) == pytest.approx(0.25)


def test_quantile_and_null_distances():
    """The nearest-rank quantile; the splits of two identical samples are all 0."""
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.99) == 4.0
    same = [[1, 2], [1, 2]]
    assert null_distances(same, same, rounds=5, rng=random.Random(1)) == [0.0] * 5


def _body(ids: list[int]) -> bytes:
    exercises = [
        {"id": i, "name": f"Exercise {i}", "description": "", "difficulty": 1, "muscle_groups": [],
         "suggested_weight": 10.0, "suggested_reps": 5}
        for i in ids
    ]  # fmt: skip
    return orjson.dumps({"exercises": exercises, "generated_at": "2026-12-01T07:00:00Z"})


def _asked(users: int, rng: random.Random, coach_catalog: list[int] | None = None) -> list[Asked]:
    """`users` per group; the monolith and coach draw as wod/choose.py does, coach from
    `coach_catalog` when given."""
    ids = sorted(CATALOG)
    out = []
    for n in range(2 * users):
        group = "A" if n % 2 == 0 else "B"
        mono = Answer(200, _body(choose_wod(ids, set(), rng, 6)))
        coach = None
        if group == "A":
            coach = Answer(200, _body(choose_wod(coach_catalog or ids, set(), rng, 6)))
        out.append(Asked(str(n), group, frozenset(), mono, coach))
    return out


@pytest.mark.slow  # `make check` skips it
def test_the_same_rule_on_both_sides_passes():
    """coach and the monolith drawing alike from the same catalog, 200 users each: pass, in
    at least 95 of 100 independent trials at alpha 0.01 (the test's own false-alarm rate)."""
    rng = random.Random(42)
    verdicts = Counter(
        judge(_asked(200, rng), catalog=CATALOG, size=6, rounds=200, seed=i).verdict
        for i in range(20)
    )
    assert verdicts["pass"] >= 19 and verdicts["inconclusive"] == 0, verdicts


def test_a_narrower_draw_fails_on_the_distribution():
    """coach drawing from 36 of the 48 exercises breaks no invariant (each is a catalog
    exercise) but fails the distribution, with figures far above the monolith's own noise."""
    report = judge(_asked(200, random.Random(3), list(range(1, 37))), catalog=CATALOG, size=6)
    assert report.verdict == "fail" and report.broken == {"coach": 0, "monolith": 0}
    assert report.distances is not None
    assert report.distances.candidate > 1.5 * report.distances.threshold
    assert "distributed unlike" in report.reasons[-1]


def test_a_broken_invariant_fails_whatever_the_distribution():
    """One coach answer with a 500 fails the gate; the report names the user."""
    asked = _asked(200, random.Random(5))
    asked[0] = Asked("0", "A", frozenset(), asked[0].monolith, Answer(500, b"{}"))
    report = judge(asked, catalog=CATALOG, size=6)
    assert report.verdict == "fail" and report.broken["coach"] == 1
    assert report.examples["coach"] == ["user 0: status 500, not 2xx"]


def test_too_few_users_is_inconclusive():
    """20 users a group: 2.5 picks per exercise of 48, under the 5 the test needs."""
    report = judge(_asked(20, random.Random(6)), catalog=CATALOG, size=6)
    assert report.verdict == "inconclusive"
    assert report.distances is not None and report.distances.expected_per_exercise == 2.5
    assert "ask more users" in report.reasons[-1]
    assert judge([], catalog=CATALOG, size=6).verdict == "inconclusive"


def test_the_report_as_json_holds_the_figures():
    """--json prints this: verdict, reasons, users, broken counts and every distance."""
    out = judge(_asked(60, random.Random(7)), catalog=CATALOG, size=6).to_json()
    assert out["users"] == {"A": 60, "B": 60}
    assert set(out["distances"]) >= {"candidate", "floor", "threshold", "expected_per_exercise"}
    orjson.dumps(out)
