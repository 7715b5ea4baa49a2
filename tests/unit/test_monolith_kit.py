"""The monolith kit builds the contract's events from coach's own models: what it puts in the
outbox is what coach decodes, a contract breach fails on the monolith's side, and its rows
route by aggregatetype with the record key as aggregateid."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest

from events import decode_record
from monolith_kit import (
    exercise_deleted,
    exercise_upserted,
    user_erased,
    user_erased_rows,
    workout_completed,
    workout_deleted,
)
from monolith_kit.outbox import MIGRATIONS

AT = datetime(2026, 11, 30, 9, 15, tzinfo=timezone(timedelta(hours=2)))
GROUPS = [{"id": 1, "name": "Quads", "body_part": "legs", "is_primary": True, "intensity": 0.9}]


def _exercise(**changes):  # type: ignore[no-untyped-def]
    fields = {
        "id": 42,
        "name": "Back Squat",
        "difficulty": 3,
        "revision": 7,
        "default_weight": 60,
        "default_reps": 8,
        "muscle_groups": GROUPS,
    }
    return exercise_upserted(**{**fields, **changes})


EVENTS = {
    "upserted": (_exercise(), "exercise", "42", "exercises"),
    "deleted": (exercise_deleted(id=42, revision=8), "exercise", "42", "exercises"),
    "completed": (
        workout_completed(
            workout_id="w-1",
            user_id=1001,
            completed_at=AT,
            exercises=[{"exercise_id": 42, "sets": 3, "reps": 5, "weight": 100}],
        ),
        "workout",
        "1001",
        "workouts",
    ),
    "workout deleted": (
        workout_deleted(workout_id="w-1", user_id="u-9"),
        "workout",
        "u-9",
        "workouts",
    ),
    "erased": (user_erased(user_id="u-9"), "erasure", "u-9", "erasures"),
    "erased, for the workouts topic": (
        user_erased(user_id="u-9", role="workouts"),
        "workout",
        "u-9",
        "workouts",
    ),
}


@pytest.mark.parametrize("name", EVENTS)
def test_each_event_routes_by_aggregatetype_keyed_as_the_contract_says(name):
    event, aggregatetype, key, role = EVENTS[name]
    assert (event.aggregatetype, event.aggregateid) == (aggregatetype, key)
    decoded = decode_record(role, key.encode(), event.payload.encode())
    assert decoded.known and decoded.type == event.type
    assert decoded.event_id == str(event.id)


def test_an_erasure_is_two_rows_with_one_time_to_the_microsecond():
    """One for the erasures topic (kept for good), one for the workouts topic (read by
    coaches before it); the same instant, written to the microsecond."""
    at = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    rows = user_erased_rows(user_id=7, time=at)
    assert [(r.aggregatetype, r.aggregateid) for r in rows] == [("erasure", "7"), ("workout", "7")]
    times = {orjson.loads(r.payload)["time"] for r in rows}
    assert times == {"2026-12-01T10:00:00.000000Z"}


def test_the_payload_is_a_structured_cloudevent_with_utc_times():
    event = EVENTS["completed"][0]
    payload = orjson.loads(event.payload)
    assert payload["specversion"] == "1.0" and payload["source"] == "/monolith/fit"
    assert payload["data"]["completed_at"] == "2026-11-30T07:15:00Z"
    assert payload["time"].endswith("Z")


@pytest.mark.parametrize(
    "build",
    [
        lambda: _exercise(difficulty=9),
        lambda: _exercise(name=""),
        lambda: _exercise(muscle_groups=[{"id": 1}]),
        lambda: exercise_deleted(id=0, revision=1),
        lambda: workout_completed(
            workout_id="w", user_id="u", completed_at=AT.replace(tzinfo=None), exercises=[]
        ),
        lambda: workout_completed(
            workout_id="w",
            user_id="u",
            completed_at=datetime.now(UTC),
            exercises=[{"exercise_id": 1, "sets": 0, "reps": 1, "weight": 1}],
        ),
        lambda: user_erased(user_id=""),
    ],
)
def test_a_contract_breach_fails_in_the_monolith_not_in_coach(build):
    with pytest.raises(ValueError):
        build()


def test_the_outbox_migration_has_debeziums_columns_and_a_json_payload():
    sql = "\n".join(p.read_text() for p in sorted(MIGRATIONS.glob("*.sql"))).lower()
    ddl = "\n".join(line for line in sql.splitlines() if not line.lstrip().startswith("--"))
    for column, kind in (("id", "uuid"), ("aggregatetype", "varchar"), ("aggregateid", "varchar"),
                         ("type", "varchar"), ("payload", "json")):  # fmt: skip
        assert re.search(rf"^\s*{column}\s+{kind}\b", ddl, re.M), column
    assert "jsonb" not in ddl  # jsonb re-serialises the payload's text
    assert "create publication coach_outbox for table outbox" in ddl
