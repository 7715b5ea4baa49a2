"""The comparison gate's invariants (rollout/invariants.py): what every WOD answer, coach's or
the monolith's, must satisfy whatever the draw."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
import pytest

from api.schemas import WodResponse
from rollout.invariants import Answer, WodShape, check
from rollout.known import CatalogExercise

CATALOG = {i: CatalogExercise(i, f"Exercise {i}") for i in range(1, 11)}


def wod(*ids: int, weight: float = 20.0, reps: int = 8, **overrides: Any) -> bytes:
    exercises = [
        {
            "id": i,
            "name": f"Exercise {i}",
            "description": "",
            "difficulty": 2,
            "muscle_groups": [
                {
                    "id": 1,
                    "name": "Quads",
                    "body_part": "legs",
                    "is_primary": True,
                    "intensity": 0.5,
                }
            ],
            "suggested_weight": weight,
            "suggested_reps": reps,
        }
        for i in ids
    ]
    return orjson.dumps(
        {"exercises": exercises, "generated_at": "2026-12-01T07:00:00Z", **overrides}
    )


def broken(body: bytes, status: int = 200, done: frozenset[int] | None = frozenset()) -> list[str]:
    return check(Answer(status, body), catalog=CATALOG, done_yesterday=done, size=6).broken


def test_a_lawful_wod_breaks_nothing():
    """Six distinct catalog exercises, none done yesterday, suggestions within bounds."""
    result = check(
        Answer(200, wod(1, 2, 3, 4, 5, 6)), catalog=CATALOG, done_yesterday=frozenset({7}), size=6
    )
    assert (result.exercise_ids, result.broken) == ([1, 2, 3, 4, 5, 6], [])


@pytest.mark.parametrize("status", [0, 401, 404, 500, 503])
def test_a_status_outside_2xx_breaks_the_status_class(status: int):
    """A valid token's WOD that is not a 2xx (or no answer at all, 0) is broken and no sample."""
    result = check(Answer(status, b"{}"), catalog=CATALOG, done_yesterday=None, size=6)
    assert result.exercise_ids is None and "not 2xx" in result.broken[0]


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"{}",
        wod(1, generated_at=None),
        orjson.dumps({"exercises": [{"id": 1}], "generated_at": "x"}),
    ],
)
def test_a_body_that_is_no_wod_response_breaks_the_schema(body: bytes):
    """Anything the WOD response model would not accept."""
    assert "not a WOD response" in broken(body)[0]


def test_exercises_outside_the_catalog_or_renamed_or_twice_are_broken():
    """An id not in the catalog, a catalog id with another name, and one exercise twice."""
    body = orjson.loads(wod(1, 2, 3, 4, 5, 99))
    body["exercises"][1]["name"] = "Something Else"
    found = broken(orjson.dumps(body))
    assert any("99" in b and "not in the catalog" in b for b in found)
    assert any("exercise 2 is 'Exercise 2' in the catalog" in b for b in found)
    assert any("twice" in b for b in broken(wod(1, 1, 2, 3, 4, 5)))


def test_an_exercise_done_yesterday_is_broken_where_known():
    """Done yesterday: broken when the gate knows the user's yesterday, not when it does not."""
    assert any("done yesterday" in b for b in broken(wod(1, 2, 3, 4, 5, 6), done=frozenset({3})))
    assert broken(wod(1, 2, 3, 4, 5, 6), done=None) == []


def test_the_size_is_size_or_what_remains():
    """Six when six remain; all that remain when fewer do; at most six when yesterday is unknown."""
    assert "5 exercises, not 6" in broken(wod(1, 2, 3, 4, 5))
    assert broken(wod(1, 2, 3, 4), done=frozenset(range(5, 11))) == []
    assert "5 exercises, not 4" in broken(wod(1, 2, 3, 4, 5), done=frozenset(range(5, 11)))
    assert broken(wod(1, 2, 3), done=None) == []
    assert "7 exercises, more than 6" in broken(wod(1, 2, 3, 4, 5, 6, 7), done=None)


@pytest.mark.parametrize(("weight", "reps"), [(-1.0, 8), (10_000.5, 8), (20.0, 0), (20.0, 100_001)])
def test_suggestions_outside_the_contracts_bounds_are_broken(weight: float, reps: int):
    """Weight 0..10,000 kg and reps 1..100,000: the event contract's bounds on what coach
    suggests from (a logged performance or the exercise's defaults)."""
    assert any(
        "out of bounds" in b for b in broken(wod(1, 2, 3, 4, 5, 6, weight=weight, reps=reps))
    )


def _plain(schema: dict[str, Any], node: Any = None) -> Any:
    """A JSON Schema with its $refs resolved and its titles and formats dropped."""
    node = schema if node is None else node
    if isinstance(node, dict):
        if "$ref" in node:
            return _plain(schema, schema["$defs"][node["$ref"].rsplit("/", 1)[1]])
        return {
            k: _plain(schema, v) for k, v in node.items() if k not in ("title", "format", "$defs")
        }
    if isinstance(node, list):
        return [_plain(schema, v) for v in node]
    return node


def test_the_gates_shape_is_the_apis_response_model():
    """rollout/ may not import api/: its WodShape must stay the api's WodResponse (fields,
    types, required, bounds), or the gate would check another contract than coach serves."""
    assert _plain(msgspec.json.schema(WodShape)) == _plain(WodResponse.model_json_schema())
