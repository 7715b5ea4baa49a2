"""The WOD's JSON assembled from pre-rendered bytes equals serialising the whole object."""

from __future__ import annotations

import orjson
import pytest

from api.render import exercise_head, suggestion_tail, wod_body

EXERCISE = {
    "id": 42,
    "name": 'Back "Squat" \u00fc \U0001f3cb',
    "description": "line\nbreak </script>",
    "difficulty": 3,
    "muscle_groups": [
        {"id": 1, "name": "Quadriceps", "body_part": "legs", "is_primary": True, "intensity": 0.9}
    ],
}


@pytest.mark.parametrize(
    "weight,reps", [(60.0, 8), (0.0, 0), (72.5, 4), (1e16, 1), (0.1 + 0.2, 3), (20, 10)]
)
def test_head_plus_tail_is_the_whole_object(weight, reps):
    rendered = exercise_head(EXERCISE) + suggestion_tail(weight, reps)
    assert orjson.loads(rendered) == {
        **EXERCISE,
        "suggested_weight": float(weight),
        "suggested_reps": reps,
    }


def test_body_is_the_documented_object():
    parts = [exercise_head(EXERCISE) + suggestion_tail(60.0, 8)] * 2
    body = orjson.loads(wod_body(parts, "2026-11-28T07:15:02.123456Z"))
    assert body["generated_at"] == "2026-11-28T07:15:02.123456Z"
    assert [e["suggested_weight"] for e in body["exercises"]] == [60.0, 60.0]
    assert orjson.loads(wod_body([], "x")) == {"exercises": [], "generated_at": "x"}


def test_stamps_are_rfc3339_utc_with_microseconds():
    from datetime import UTC, datetime

    from api.render import UtcStamps
    from wod.instants import to_us

    stamps = UtcStamps()
    for moment in (
        datetime(2026, 11, 28, 7, 15, 2, 123456, tzinfo=UTC),
        datetime(2026, 11, 28, 7, 15, 2, 999999, tzinfo=UTC),
        datetime(2026, 11, 28, 7, 15, 3, 0, tzinfo=UTC),
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
    ):
        expected = moment.isoformat(timespec="microseconds").replace("+00:00", "Z")
        assert stamps(to_us(moment)) == expected
