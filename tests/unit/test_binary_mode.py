"""Both content modes of the CloudEvents Kafka protocol binding, with records written by the
official CloudEvents SDK (`cloudevents.core.bindings.kafka`): binary mode (attributes in
`ce_*` headers, data as the value), structured mode (`application/cloudevents+json`), and
coach's own structured JSON without headers, mixed on one topic. A record that is neither
is a dead letter with the reason."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from cloudevents.core.bindings import kafka
from cloudevents.core.v1.event import CloudEvent as SdkEvent

from consumer.batch import positions_after, prepare
from consumer.records import Record
from consumer.wire import decode_batch, encode_batch
from events import DecodeError, decode_record
from events.codec import record_key
from tests.factories import (
    EX,
    ROLES,
    WO,
    completed,
    exercise_deleted,
    upserted,
    user_erased,
    value_of,
    workout_deleted,
)

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
EVENTS = (
    upserted(7),
    exercise_deleted(8, 3),
    completed("w1", "u-7", NOW, [(1, 5.0, 5)]),
    workout_deleted("w0", "u-7"),
    user_erased("u-9"),
)


def sdk_event(event: dict[str, Any]) -> SdkEvent:
    return SdkEvent(
        attributes={
            "id": event["id"],
            "source": event["source"],
            "type": event["type"],
            "time": datetime.fromisoformat(event["time"]),
            "datacontenttype": "application/json",
        },
        data=event["data"],
    )


def _key(event: dict[str, Any]) -> str:
    return record_key(event)


def binary(event: dict[str, Any]) -> kafka.KafkaMessage:
    return kafka.to_binary_event(sdk_event(event), key_mapper=lambda _e: _key(event))


def structured(event: dict[str, Any]) -> kafka.KafkaMessage:
    return kafka.to_structured_event(sdk_event(event), key_mapper=lambda _e: _key(event))


def record(topic: str, offset: int, message: kafka.KafkaMessage) -> Record:
    key = message.key.encode() if isinstance(message.key, str) else message.key
    return Record(topic, 0, offset, key, message.value, None, list(message.headers.items()))


def topic_of(event: dict[str, Any]) -> str:
    return EX if event["type"].startswith("fitness.exercise") else WO


def test_the_sdk_writes_what_the_binding_says():
    """The SDK's binary mode: ce_* headers, content-type, the data alone as the value."""
    message = binary(upserted(7))
    assert {"ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"} <= set(message.headers)
    assert message.headers["content-type"] == b"application/json"
    assert orjson.loads(message.value)["id"] == 7
    assert structured(upserted(7)).headers == {"content-type": b"application/cloudevents+json"}


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e["type"])
def test_binary_structured_and_plain_decode_to_the_same_event(event):
    role = ROLES[topic_of(event)]
    key = _key(event).encode()
    plain = decode_record(role, key, value_of(event))
    b, s = binary(event), structured(event)
    assert decode_record(role, key, b.value, list(b.headers.items())) == plain
    assert decode_record(role, key, s.value, list(s.headers.items())) == plain
    assert plain.known and plain.event_id == event["id"]


def test_both_modes_mixed_on_one_topic_all_apply_in_order():
    """One batch over both topics: each event three times (binary, structured, plain)."""
    records: list[Record] = []
    for event in EVENTS:
        topic = topic_of(event)
        records.append(record(topic, len(records), binary(event)))
        records.append(record(topic, len(records), structured(event)))
        records.append(Record(topic, 0, len(records), _key(event).encode(), value_of(event)))
    batch = prepare(records, ROLES, positions_after(records), 0)
    dead = [op for op in batch.ops if isinstance(op[1], str)]
    assert not dead
    types = []
    for first, second in batch.ops:
        if isinstance(first, list):
            types += ["fitness.workout.completed"] * len(first)
        else:
            types.append(second.type)
    assert types == [e["type"] for e in EVENTS for _ in range(3)]


def test_a_binary_mode_record_survives_the_writer_process_pipe():
    """The writer process decodes held records again: it must get their headers."""
    records = [record(EX, 0, binary(upserted(7))), record(WO, 0, binary(user_erased("u-9")))]
    batch = prepare(records, ROLES, positions_after(records), 0)
    again = decode_batch(encode_batch(batch), ROLES)
    assert [op[1] for op in again.ops] == [op[1] for op in batch.ops]
    assert all(not isinstance(op[1], str) for op in again.ops)


def _reason(role, key, value, headers) -> str:  # type: ignore[no-untyped-def]
    with pytest.raises(DecodeError) as caught:
        decode_record(role, key, value, headers)
    return str(caught.value)


def _binary_headers(event: dict[str, Any], **changes: bytes | None) -> list[tuple[str, Any]]:
    headers = dict(binary(event).headers)
    for name, raw in changes.items():
        if raw is None:
            headers.pop(name, None)
        else:
            headers[name] = raw
    return list(headers.items())


def test_a_record_in_neither_mode_is_a_dead_letter_with_the_reason():
    value = value_of(upserted(7))
    reason = _reason("exercises", b"7", value, [("content-type", b"application/json")])
    assert "neither" in reason and "ce_specversion" in reason
    records = [Record(EX, 0, 0, b"7", value, None, [("content-type", b"text/plain")])]
    batch = prepare(records, ROLES, positions_after(records), 0)
    assert isinstance(batch.ops[0][1], str) and "neither" in batch.ops[0][1]


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ce_id": None}, "without a ce_id header"),
        ({"ce_source": None}, "without a ce_source header"),
        ({"ce_type": None}, "without a ce_type header"),
        ({"ce_specversion": b"0.3"}, "unsupported ce_specversion"),
        ({"ce_id": b""}, "ce_id header must be"),
        ({"ce_type": b"fitness.workout.completed"}, "does not belong on the exercises topic"),
        ({"content-type": b"application/avro"}, "must be JSON"),
        ({"ce_source": b"\xff"}, "not UTF-8"),
    ],
)
def test_a_broken_binary_mode_record_is_a_dead_letter(changes, expected):
    headers = _binary_headers(upserted(7), **changes)
    assert expected in _reason("exercises", b"7", binary(upserted(7)).value, headers)


def test_binary_mode_data_is_validated_and_keyed_like_structured():
    headers = list(binary(upserted(7)).headers.items())
    assert "invalid fitness.exercise.upserted" in _reason("exercises", b"7", b'{"id": 7}', headers)
    assert "not JSON" in _reason("exercises", b"7", b"{oops", headers)
    assert "without data" in _reason("exercises", b"7", None, headers)
    assert "does not match" in _reason("exercises", b"8", binary(upserted(7)).value, headers)


def test_an_unknown_binary_mode_type_is_skipped_not_dead():
    headers = _binary_headers(upserted(7), ce_type=b"fitness.badge.earned")
    decoded = decode_record("exercises", b"7", b"{}", headers)
    assert not decoded.known and decoded.type == "fitness.badge.earned"


def test_structured_mode_in_another_format_is_a_dead_letter():
    headers = [("content-type", b"application/cloudevents+avro")]
    assert "unsupported format" in _reason("exercises", b"7", b"\x00", headers)


def test_headers_that_are_not_cloudevents_leave_structured_mode_alone():
    """Debezium's outbox router adds an `id` header; tracing adds others."""
    decoded = decode_record("exercises", b"7", value_of(upserted(7)), [("id", b"x"), ("b3", b"1")])
    assert decoded.known and decoded.data.id == 7
