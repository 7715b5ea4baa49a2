"""The comparison gate's verdict, from the answers both sides gave. Pure.

Users come in two groups of the same size, A and B (rollout/compare_command.py interleaves
them, so both hold alike histories). coach answers A; the monolith answers A and B.
1. Every answer is checked against the invariants (rollout/invariants.py), each side's
   against the same catalog and the same knowledge of yesterday: one broken rule fails.
2. Too few picks per catalog exercise (`MIN_EXPECTED_PER_EXERCISE`): inconclusive.
3. The distribution of chosen exercises: coach (A) against the monolith (B), within the
   noise floor of the monolith against itself (rollout/distribution.py): pass, else fail.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from rollout.distribution import MIN_EXPECTED_PER_EXERCISE, Distances, distances
from rollout.invariants import Answer, check
from rollout.known import CatalogExercise

Verdict = Literal["pass", "fail", "inconclusive"]
SHOWN_PER_SIDE = 10


@dataclass(frozen=True, slots=True)
class Asked:
    """One user's answers: coach's (users A only) and the monolith's."""

    user_id: str
    group: Literal["A", "B"]
    done_yesterday: frozenset[int] | None
    monolith: Answer
    coach: Answer | None = None


@dataclass
class Report:
    verdict: Verdict
    reasons: list[str]
    users: dict[str, int]
    broken: dict[str, int]
    examples: dict[str, list[str]] = field(default_factory=dict)
    distances: Distances | None = None

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["distances"] = asdict(self.distances) if self.distances else None
        return out


def judge(
    asked: Sequence[Asked],
    *,
    catalog: Mapping[int, CatalogExercise],
    size: int,
    alpha: float = 0.01,
    rounds: int = 1000,
    seed: int = 0,
) -> Report:
    """The verdict over `asked` (numbered steps: the module's docstring)."""
    samples: dict[str, list[list[int]]] = {"coach": [], "monolith_a": [], "monolith_b": []}
    broken = {"coach": 0, "monolith": 0}
    examples: dict[str, list[str]] = {"coach": [], "monolith": []}
    for a in asked:  # 1.
        sides = [("monolith", "monolith_a" if a.group == "A" else "monolith_b", a.monolith)]
        if a.coach is not None:
            sides.append(("coach", "coach", a.coach))
        for side, sample, answer in sides:
            checked = check(answer, catalog=catalog, done_yesterday=a.done_yesterday, size=size)
            if checked.exercise_ids is not None:
                samples[sample].append(checked.exercise_ids)
            if checked.broken:
                broken[side] += 1
                if len(examples[side]) < SHOWN_PER_SIDE:
                    examples[side].append(f"user {a.user_id}: {'; '.join(checked.broken)}")
    users = {"A": sum(a.group == "A" for a in asked), "B": sum(a.group == "B" for a in asked)}
    reasons = [f"{n} {side} answers break an invariant" for side, n in broken.items() if n]
    if not catalog:
        reasons.append("the catalog is empty")
    found = None
    if all(samples.values()) and catalog:
        found = distances(
            coach=samples["coach"],
            monolith_a=samples["monolith_a"],
            monolith_b=samples["monolith_b"],
            catalog_size=len(catalog),
            alpha=alpha,
            rounds=rounds,
            rng=random.Random(seed),
        )
    report = Report("pass", reasons, users, broken, examples, found)
    if reasons:
        report.verdict = "fail"
    elif found is None or found.expected_per_exercise < MIN_EXPECTED_PER_EXERCISE:  # 2.
        report.verdict = "inconclusive"
        per = found.expected_per_exercise if found else 0.0
        report.reasons.append(
            f"{per:.1f} picks per catalog exercise in the smallest sample, fewer than "
            f"{MIN_EXPECTED_PER_EXERCISE}: ask more users"
        )
    elif found.candidate > found.threshold:  # 3.
        report.verdict = "fail"
        report.reasons.append(
            f"coach's exercises are distributed unlike the monolith's: TVD {found.candidate:.3f}"
            f" > {found.threshold:.3f}, the monolith's own {1 - alpha:.0%} noise"
        )
    return report
