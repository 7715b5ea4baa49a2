"""The edges of the event codec (events/codec.py, events/content_mode.py): content types with
parameters, the largest exercise id and its key, the lengths of `ce_*` attributes, and the
event ids that decoding keeps and encoding gives."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from events import DecodeError, decode_record
from events.codec import MAX_ID, MAX_ID_DIGITS, encode_event, exercise_id_from_key, record_key
from events.content_mode import TEXT_MAX
from tests.factories import upserted, user_erased, value_of

BINARY = {
    "ce_specversion": b"1.0",
    "ce_id": b"ev-1",
    "ce_source": b"/monolith/fit",
    "ce_type": b"fitness.exercise.upserted",
}


def binary_headers(**changes: bytes | None) -> list[tuple[str, bytes | None]]:
    headers: dict[str, bytes | None] = {**BINARY, **changes}
    return [(name, raw) for name, raw in headers.items() if raw is not None]


def data_of(event: dict[str, Any]) -> bytes:
    return orjson.dumps(event["data"])


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/cloudevents+json; charset=utf-8",
        b"Application/CloudEvents+JSON",
        b" application/cloudevents+json ;charset=UTF-8",
    ],
)
def test_a_structured_content_type_with_parameters_or_capitals_is_structured(content_type):
    """The media type is compared without its parameters and case (RFC 9110)."""
    decoded = decode_record(
        "exercises", b"7", value_of(upserted(7)), [("content-type", content_type)]
    )
    assert decoded.known and decoded.data.id == 7


@pytest.mark.parametrize(
    "content_type",
    [
        b"application/json",
        b"application/json; charset=utf-8",
        b"APPLICATION/JSON",
        b"application/vnd.fit.exercise+json",
        b"application/vnd.fit.exercise+json; v=2",
        None,  # no content-type header: JSON by default
    ],
)
def test_binary_mode_data_of_any_json_media_type_is_read(content_type):
    headers = binary_headers(**{"content-type": content_type})
    decoded = decode_record("exercises", b"7", data_of(upserted(7)), headers)
    assert decoded.known and decoded.data.id == 7 and decoded.event_id == "ev-1"


@pytest.mark.parametrize(
    "content_type", [b"application/json-seq", b"text/json", b"application/jsonx", b"text/plain"]
)
def test_binary_mode_data_of_another_media_type_is_refused(content_type):
    headers = binary_headers(**{"content-type": content_type})
    with pytest.raises(DecodeError, match="must be JSON"):
        decode_record("exercises", b"7", data_of(upserted(7)), headers)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("1", 1),
        ("9", 9),
        ("1000000000000000000", 10**18),  # 19 digits
        ("9223372036854775807", 2**63 - 1),  # 19 digits, the largest
    ],
)
def test_canonical_keys_give_their_id(key, expected):
    assert exercise_id_from_key(key) == expected


@pytest.mark.parametrize(
    "key",
    [
        None,
        "",
        "0",
        "007",
        "-1",
        "+1",
        " 1",
        "1 ",
        "²",  # a digit to str.isdigit, not to the contract
        "\u0663",  # ARABIC-INDIC DIGIT THREE
        "9223372036854775808",  # 2**63: 19 digits, one too large
        "9999999999999999999",
        "10000000000000000000",  # 20 digits
        "1" * 5000,
    ],
)
def test_other_keys_are_refused(key):
    with pytest.raises(DecodeError, match="canonical positive decimal id"):
        exercise_id_from_key(key)


def test_the_largest_id_is_the_contracts():
    assert MAX_ID == 2**63 - 1
    assert len(str(MAX_ID)) == MAX_ID_DIGITS


def test_a_tombstone_of_the_largest_id_deletes_it():
    assert decode_record("exercises", str(2**63 - 1).encode(), None).data == 2**63 - 1
    with pytest.raises(DecodeError):
        decode_record("exercises", str(2**63).encode(), None)


@pytest.mark.parametrize("length", [1, TEXT_MAX])
@pytest.mark.parametrize("header", ["ce_id", "ce_source"])
def test_required_attributes_of_1_to_200_characters_pass(header, length):
    headers = binary_headers(**{header: b"x" * length})
    decoded = decode_record("exercises", b"7", data_of(upserted(7)), headers)
    assert decoded.known and decoded.event_id == ("x" * length if header == "ce_id" else "ev-1")


@pytest.mark.parametrize("length", [0, TEXT_MAX + 1])
@pytest.mark.parametrize("header", ["ce_id", "ce_source", "ce_type"])
def test_required_attributes_of_other_lengths_are_refused(header, length):
    headers = binary_headers(**{header: b"x" * length})
    with pytest.raises(DecodeError, match=f"{header} header must be 1 to 200 characters"):
        decode_record("exercises", b"7", data_of(upserted(7)), headers)


def test_text_max_is_200():
    assert TEXT_MAX == 200


def test_decoding_keeps_the_event_id_in_both_modes_and_for_unknown_types():
    event = upserted(7)
    structured = decode_record("exercises", b"7", value_of(event))
    assert structured.event_id == event["id"]
    unknown = {**event, "type": "fitness.badge.earned"}
    assert decode_record("exercises", b"7", value_of(unknown)).event_id == event["id"]
    headers = binary_headers(ce_type=b"fitness.badge.earned", ce_id=b"ev-9")
    assert decode_record("exercises", b"7", b"{}", headers).event_id == "ev-9"
    erasure = user_erased("u-9")
    assert decode_record("erasures", b"u-9", value_of(erasure)).event_id == erasure["id"]


def test_encode_event_gives_a_fresh_uuid_unless_one_is_given():
    first = encode_event("fitness.exercise.upserted", {"id": 1})
    second = encode_event("fitness.exercise.upserted", {"id": 1})
    assert first["id"] != second["id"]
    assert uuid.UUID(first["id"]).version == 4
    given = encode_event("fitness.exercise.upserted", {"id": 1}, event_id="ev-1")
    assert given["id"] == "ev-1"


def test_encode_event_writes_a_cloudevents_1_0_envelope():
    at = datetime(2026, 11, 27, 19, 30, tzinfo=timezone(timedelta(hours=1)))
    event = encode_event("fitness.workout.deleted", {"x": 1}, source="/s", event_id="e", time=at)
    assert event == {
        "specversion": "1.0",
        "id": "e",
        "source": "/s",
        "type": "fitness.workout.deleted",
        "time": "2026-11-27T18:30:00.000000Z",  # UTC, to the microsecond, with a Z
        "datacontenttype": "application/json",
        "data": {"x": 1},
    }
    now = encode_event("t", {})["time"]
    assert abs(datetime.fromisoformat(now) - datetime.now(UTC)) < timedelta(seconds=5)
    assert encode_event("t", {})["source"] == "/monolith/fit"


@pytest.mark.parametrize(
    ("key", "described"),
    [(None, "no key"), ("007", "a key of 3 characters"), ("x" * 40, "a key of 40 characters")],
)
def test_a_refused_key_is_described_by_its_length_never_its_text(key, described):
    with pytest.raises(DecodeError) as raised:
        exercise_id_from_key(key)
    assert str(raised.value) == (
        f"exercises key must be a canonical positive decimal id, got {described}"
    )


def test_a_mismatched_key_is_described_by_its_length():
    with pytest.raises(DecodeError) as raised:
        decode_record("exercises", b"12", value_of(upserted(7)))
    assert str(raised.value) == (
        "record key (a key of 2 characters) does not match the event's data.id"
    )


def test_a_key_that_is_not_utf8_says_so():
    with pytest.raises(DecodeError) as raised:
        decode_record("exercises", b"\xff", value_of(upserted(7)))
    assert str(raised.value) == "key is not UTF-8 text"


@pytest.mark.parametrize(
    ("specversion", "reason"),
    [
        (None, "binary-mode event without a ce_specversion header"),  # a null header value
        (b"", "ce_specversion header must be 1 to 200 characters"),
        (b"0.3", "binary-mode event of an unsupported ce_specversion (not 1.0)"),
    ],
)
def test_a_binary_record_of_no_or_another_specversion_is_refused(specversion, reason):
    headers = [(n, r) for n, r in binary_headers() if n != "ce_specversion"]
    with pytest.raises(DecodeError) as raised:
        decode_record(
            "exercises", b"7", data_of(upserted(7)), [*headers, ("ce_specversion", specversion)]
        )
    assert str(raised.value) == reason


def test_an_unknown_type_is_known_false_in_both_modes():
    unknown = {**upserted(7), "type": "fitness.badge.earned"}
    assert decode_record("exercises", b"7", value_of(unknown)).known is False
    headers = binary_headers(ce_type=b"fitness.badge.earned")
    assert decode_record("exercises", b"7", b"{}", headers).known is False


def test_encode_event_writes_utc_whatever_the_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    try:
        at = datetime(2026, 11, 27, 19, 30, tzinfo=timezone(timedelta(hours=1)))
        assert encode_event("t", {}, time=at)["time"] == "2026-11-27T18:30:00.000000Z"
    finally:
        monkeypatch.undo()
        time.tzset()


def test_record_key_of_an_unknown_type_says_which():
    with pytest.raises(DecodeError) as raised:
        record_key({"type": "fitness.badge.earned", "data": {"id": 1}})
    assert str(raised.value) == ("unknown event type 'fitness.badge.earned': cannot tell its topic")
    assert record_key(user_erased("u-9")) == "u-9"
