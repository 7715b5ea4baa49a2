"""What every WOD answer must satisfy, on either side, whatever the random draw gave.

The WOD is random, so two sides never give equal answers; they must give lawful ones:
1. status class: a valid token's WOD is a 2xx;
2. schema: the body is the WOD response (api/schemas.py `WodResponse`; `WodShape` below is
   that model for this floor, and tests/unit/test_compare_invariants.py keeps them equal);
3. catalog: each exercise is a catalog exercise (its id, with the catalog's name), none twice;
4. yesterday: none of them was completed by the user yesterday, where the gate knows it;
5. size: `size` exercises, or all that remain when fewer do (where yesterday is known;
   otherwise at most `size`);
6. suggestions: within the bounds the event contract puts on what a workout may hold and an
   exercise's defaults (events/models.py `Kilograms`, `Count`), where coach takes them from.
Pure: an answer in, the broken rules out as sentences.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

import msgspec
from msgspec import Meta

from events.models import Count, Kilograms
from rollout.known import CatalogExercise


def _bounds(annotated: object) -> tuple[float, float]:
    meta = annotated.__metadata__[0]  # type: ignore[attr-defined]
    return meta.ge, meta.le


WEIGHT_BOUNDS = _bounds(Kilograms)
REPS_BOUNDS = _bounds(Count)


class MuscleGroupShape(msgspec.Struct):
    id: int
    name: str
    body_part: str
    is_primary: bool
    intensity: Annotated[float, Meta(ge=0.0, le=1.0)]


class ExerciseShape(msgspec.Struct):
    id: int
    name: str
    description: str
    difficulty: Annotated[int, Meta(ge=1, le=5)]
    muscle_groups: list[MuscleGroupShape]
    suggested_weight: float
    suggested_reps: int


class WodShape(msgspec.Struct):
    exercises: list[ExerciseShape]
    generated_at: datetime


_WOD = msgspec.json.Decoder(WodShape)


@dataclass(frozen=True, slots=True)
class Answer:
    """One side's answer for one user."""

    status: int
    body: bytes


@dataclass(frozen=True, slots=True)
class Checked:
    """An answer's exercise ids in drawn order (None when it is no WOD) and the rules broken."""

    exercise_ids: list[int] | None
    broken: list[str]


def check(
    answer: Answer,
    *,
    catalog: Mapping[int, CatalogExercise],
    done_yesterday: frozenset[int] | None,
    size: int,
) -> Checked:
    """The rules `answer` breaks (see the module's docstring, numbered alike)."""
    if not 200 <= answer.status < 300:
        return Checked(None, [f"status {answer.status}, not 2xx"])
    try:
        wod = _WOD.decode(answer.body)
    except msgspec.DecodeError as exc:
        return Checked(None, [f"not a WOD response: {exc}"])
    broken = []
    ids = [e.id for e in wod.exercises]
    if len(set(ids)) != len(ids):
        broken.append(f"an exercise twice: {ids}")
    for e in wod.exercises:
        known = catalog.get(e.id)
        if known is None:
            broken.append(f"exercise {e.id} ({e.name!r}) is not in the catalog")
        elif known.name != e.name:
            broken.append(f"exercise {e.id} is {known.name!r} in the catalog, not {e.name!r}")
        if done_yesterday is not None and e.id in done_yesterday:
            broken.append(f"exercise {e.id} was done yesterday")
        if not WEIGHT_BOUNDS[0] <= e.suggested_weight <= WEIGHT_BOUNDS[1]:
            broken.append(f"exercise {e.id}: suggested_weight {e.suggested_weight} out of bounds")
        if not REPS_BOUNDS[0] <= e.suggested_reps <= REPS_BOUNDS[1]:
            broken.append(f"exercise {e.id}: suggested_reps {e.suggested_reps} out of bounds")
    if done_yesterday is not None:
        expected = min(size, len(set(catalog) - done_yesterday))
        if len(ids) != expected:
            broken.append(f"{len(ids)} exercises, not {expected}")
    elif len(ids) > size:
        broken.append(f"{len(ids)} exercises, more than {size}")
    return Checked(ids, broken)
