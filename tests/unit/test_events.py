"""The event contract: decoding, validation and the generated JSON Schemas."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from consumer.handlers import workout_row
from events import DecodeError, decode_record
from events.codec import TOMBSTONE, record_key
from events.schema import SCHEMA_DIR, render, schemas
from tests.factories import (
    completed,
    exercise_deleted,
    key_of,
    upserted,
    user_erased,
    value_of,
    workout_deleted,
)
from wod.instants import to_us

NOW = datetime(2026, 11, 27, 18, 30, tzinfo=UTC)


def decode(role, event):  # type: ignore[no-untyped-def]
    return decode_record(role, key_of(event), value_of(event))


def test_schemas_match_models():
    """events/schemas/ is what the models generate (run `make schemas` after a change)."""
    for name, schema in schemas().items():
        path = SCHEMA_DIR / name
        assert path.exists(), f"missing {path}: run make schemas"
        assert path.read_text() == render(schema), f"{path} drifted: run make schemas"


def test_upsert_decodes_to_the_model():
    """A valid upsert decodes with its data validated."""
    decoded = decode("exercises", upserted(42, revision=7))
    assert decoded.known and decoded.data.id == 42 and decoded.data.revision == 7


def test_user_id_number_becomes_text():
    """A user id sent as a JSON number is stored as text."""
    decoded = decode("workouts", completed("w1", 7, NOW, [(1, 20.0, 5)]))
    assert decoded.data.user_id == 7
    assert workout_row(decoded.data).user_id == "7"


@pytest.mark.parametrize(
    "field,value", [("difficulty", 0), ("difficulty", 6), ("difficulty", "3"), ("revision", -1)]
)
def test_exercise_out_of_range_is_invalid(field, value):
    """difficulty outside 1..5 (or a wrong type) is a decode error with the field named."""
    event = upserted(1)
    event["data"][field] = value
    with pytest.raises(DecodeError, match=field):
        decode("exercises", event)


@pytest.mark.parametrize("intensity", [-0.1, 1.01, "high"])
def test_intensity_outside_unit_interval_is_invalid(intensity):
    """intensity outside 0..1 is invalid."""
    event = upserted(1)
    event["data"]["muscle_groups"][0]["intensity"] = intensity
    with pytest.raises(DecodeError, match="intensity"):
        decode("exercises", event)


def test_naive_completed_at_is_invalid():
    """completed_at must carry its UTC offset."""
    event = completed("w1", "7", NOW, [(1, 20.0, 5)])
    event["data"]["completed_at"] = "2026-11-27T18:30:00"
    with pytest.raises(DecodeError, match="completed_at"):
        decode("workouts", event)


def test_unknown_type_is_not_an_error():
    """A type this coach does not know decodes as unknown (it is skipped and counted)."""
    event = upserted(1)
    event["type"] = "fitness.exercise.renamed"
    decoded = decode("exercises", event)
    assert not decoded.known and decoded.type == "fitness.exercise.renamed"


def test_tombstone_deletes_by_key():
    """A null value on the exercises topic is a tombstone for the key's exercise."""
    decoded = decode_record("exercises", b"42", None)
    assert decoded.type == TOMBSTONE and decoded.data == 42


@pytest.mark.parametrize(
    "key,value,reason",
    [
        (b"1", b"not json", "not JSON"),
        (b"1", b"[1, 2]", "not a JSON object"),
        (b"1", b'{"specversion": "0.3", "id": "x", "source": "s", "type": "t"}', "CloudEvent"),
        (b"\xff", b"{}", "UTF-8"),
        (None, None, "positive decimal id"),
    ],
)
def test_garbage_is_a_decode_error(key, value, reason):
    """Bytes that are not a valid CloudEvent give a DecodeError that says why."""
    with pytest.raises(DecodeError, match=reason):
        decode_record("exercises", key, value)


def test_null_value_on_workouts_topic_is_invalid():
    with pytest.raises(DecodeError, match="null value"):
        decode_record("workouts", b"7", None)


def test_key_must_match_the_entity():
    """A record keyed by another entity would break per-entity ordering: invalid."""
    with pytest.raises(DecodeError, match="does not match"):
        decode_record("exercises", b"2", value_of(upserted(1)))


def test_user_erased_decodes_on_the_workouts_and_erasures_topics_only():
    """An erasure belongs on the workouts topic (as older coaches read it) and on the
    erasures topic; never on the catalog's."""
    for role in ("workouts", "erasures"):
        decoded = decode_record(role, b"7", value_of(user_erased(7)))
        assert (decoded.type, decoded.data.user_id) == ("fitness.user.erased", 7)
        assert not decoded.key_mismatch
    assert record_key(user_erased("u-1")) == "u-1"
    with pytest.raises(DecodeError, match="does not belong"):
        decode_record("exercises", b"7", value_of(user_erased(7)))


@pytest.mark.parametrize("key", [b"8", b"", None, b"7 "])
@pytest.mark.parametrize("role", ["workouts", "erasures"])
def test_an_erasure_keyed_by_anything_but_its_user_is_applied_and_flagged(role, key):
    """Dropping it as a dead letter would keep the user's data: it decodes, flagged."""
    decoded = decode_record(role, key, value_of(user_erased(7)))
    assert (decoded.type, decoded.data.user_id, decoded.key_mismatch) == (
        "fitness.user.erased",
        7,
        True,
    )


@pytest.mark.parametrize("ce_time", [b"\xff\xfe", b"yesterday", b"2026-12-01T10:00:00"])
def test_a_binary_erasure_with_a_broken_time_is_applied_with_the_records_time(ce_time):
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e-1"),
        ("ce_source", b"/x"),
        ("ce_type", b"fitness.user.erased"),
        ("ce_time", ce_time),
        ("content-type", b"application/json"),
    ]
    decoded = decode_record("erasures", b"u", b'{"user_id": "u"}', headers)
    assert (decoded.type, decoded.erased_at_us) == ("fitness.user.erased", None)


def test_an_erasure_carries_the_last_instant_its_own_time_can_mean():
    event = user_erased("u")
    event["time"] = "2026-12-01T10:00:00.123Z"
    decoded = decode_record("erasures", b"u", value_of(event))
    assert decoded.erased_at_us == to_us(datetime(2026, 12, 1, 10, 0, 0, 123999, tzinfo=UTC))
    del event["time"]
    assert decode_record("erasures", b"u", value_of(event)).erased_at_us is None


def test_a_mismatched_key_is_not_quoted_in_the_reason():
    with pytest.raises(DecodeError) as caught:
        decode_record("workouts", b"user-secret-id", value_of(workout_deleted("w", "someone-else")))
    assert "user-secret-id" not in str(caught.value)
    assert "someone-else" not in str(caught.value)
    with pytest.raises(DecodeError) as caught:
        decode_record("exercises", b"user-secret-id", None)
    assert "user-secret-id" not in str(caught.value)


def test_event_on_the_wrong_topic_is_invalid():
    with pytest.raises(DecodeError, match="does not belong"):
        decode("workouts", exercise_deleted(1, 2))


def test_record_key_for_publishing():
    assert record_key(upserted(5)) == "5"
    assert record_key(completed("w", 9, NOW, [])) == "9"
    with pytest.raises(DecodeError):
        record_key({"type": "x", "data": {}})
