"""Fuzzing a whole record (key, headers, value) against `prepare()`: whatever a hostile or
broken producer writes, decoding either yields an event or a dead letter with its reason.
No exception escapes, so one record can never stop a partition."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.batch import positions_after, prepare
from consumer.records import Record
from events.personal import users_named
from tests.factories import (
    EX,
    ROLES,
    WO,
    completed,
    exercise_deleted,
    upserted,
    user_erased,
    workout_deleted,
)

DIGITS = "0123456789\u00b2\u00b3\u00b9\u0660\u0661\u0662\u0663\u0667\u06f1\u0967\uff15"
KEY_TEXT = st.one_of(
    st.text(alphabet=DIGITS, max_size=25),
    st.text(max_size=30),
    st.integers(-(2**70), 2**70).map(str),
    st.integers(1, 10**6).map(lambda n: "0" * 3 + str(n)),
    st.just("9" * 5000),
)
KEY = st.one_of(st.none(), st.binary(max_size=40), KEY_TEXT.map(str.encode))
HEADERS = st.lists(st.tuples(st.text(max_size=20), st.binary(max_size=40)), max_size=4).map(tuple)

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)  # what JSON encoders write
    | st.floats(allow_nan=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
NOW = "2026-11-28T12:00:00+00:00"
VALID = (
    upserted(7),
    exercise_deleted(7, 3),
    completed("w1", 7, __import__("datetime").datetime.fromisoformat(NOW), [(1, 5.0, 5)]),
    workout_deleted("w1", "7"),
    user_erased("7"),
)


@st.composite
def mutated(draw: Any) -> bytes:
    """A valid event with one field of its envelope or its data replaced by any JSON."""
    event = orjson.loads(orjson.dumps(draw(st.sampled_from(VALID))))
    target = event if draw(st.booleans()) else event["data"]
    field = draw(st.sampled_from(sorted(target)) | st.text(max_size=8))
    if draw(st.booleans()):
        target[field] = draw(JSON)
    else:
        target.pop(field, None)
    return orjson.dumps(event)


VALUE = st.one_of(
    st.none(),
    st.binary(max_size=200),
    JSON.map(orjson.dumps),
    mutated(),
    st.sampled_from(VALID).map(orjson.dumps),
)
ATTRIBUTES = ("ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time", "content-type")


@st.composite
def binary_mode(draw: Any) -> tuple[tuple[tuple[str, bytes | None], ...], bytes | None]:
    """Binary-mode headers and value of a valid event, with any header dropped, replaced
    (by any bytes, another event's type or None) or added, and the data possibly mutated."""
    event = orjson.loads(orjson.dumps(draw(st.sampled_from(VALID))))
    headers: dict[str, bytes | None] = {
        "ce_specversion": b"1.0",
        "ce_id": event["id"].encode(),
        "ce_source": event["source"].encode(),
        "ce_type": event["type"].encode(),
        "ce_time": event["time"].encode(),
        "content-type": b"application/json",
    }
    for name in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=3)):
        headers[name] = draw(
            st.none()
            | st.binary(max_size=30)
            | st.sampled_from([e["type"].encode() for e in VALID])
            | st.sampled_from([b"", b"1.0", b"application/cloudevents+json", b"text/plain"])
        )
    for name in draw(st.lists(st.sampled_from(ATTRIBUTES), max_size=2)):
        headers.pop(name, None)
    extra = draw(st.lists(st.tuples(st.text(max_size=12), st.binary(max_size=20)), max_size=2))
    data = event["data"]
    if isinstance(data, dict) and draw(st.booleans()) and data:
        field = draw(st.sampled_from(sorted(data)))
        data[field] = draw(JSON)
    value = draw(st.just(orjson.dumps(data)) | VALUE)
    return tuple(headers.items()) + tuple(extra), value


def _record(topic: str, key: bytes | None, value: Any, headers: Any, ts: int | None) -> Record:
    if isinstance(value, tuple):  # binary mode: (headers, value)
        headers, value = headers + value[0], value[1]
    return Record(topic, 0, 0, key, value, ts, headers)


RECORD = st.builds(
    _record,
    st.sampled_from((EX, WO, "not.ours")),
    KEY | st.just(b"7"),  # the key of every VALID event
    st.one_of(VALUE, binary_mode()),
    HEADERS,
    st.none() | st.integers(-(2**40), 2**45),
)


@pytest.mark.slow  # 600 examples: `make check` skips it
@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(RECORD, min_size=1, max_size=8))
def test_any_record_decodes_or_becomes_a_dead_letter(records: list[Record]) -> None:
    records = [
        Record(r.topic, 0, i, r.key, r.value, r.timestamp, r.headers) for i, r in enumerate(records)
    ]
    prepared = prepare(records, ROLES, positions_after(records), 0)
    accounted = prepared.unknown
    for first, second in prepared.ops:
        if isinstance(first, list):
            accounted += len(first)
        else:
            if isinstance(second, str):
                assert second, "a dead letter without a reason"
            accounted += 1
    assert accounted == len(records)


@pytest.mark.slow  # `make check` skips it
@settings(max_examples=600, deadline=None)
@given(KEY, VALUE)
def test_the_users_a_dead_letter_names_are_read_from_any_record(key, value) -> None:
    """What erasure matches dead letters by (events/personal.py) takes any record: it never
    raises, and it names the data's user_id when the value is an event that has one."""
    named = users_named(key, value)
    assert all(isinstance(u, str) for u in named)
    try:
        event = orjson.loads(value) if value else None
    except orjson.JSONDecodeError:
        return
    data = event.get("data") if isinstance(event, dict) else None
    user = data.get("user_id") if isinstance(data, dict) else None
    if isinstance(user, str) or (isinstance(user, int) and not isinstance(user, bool)):
        assert str(user) in named


@pytest.mark.slow  # `make check` skips it
@settings(max_examples=400, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", max_size=30), VALUE)
def test_a_reason_never_quotes_the_records_key(text, value) -> None:
    """Reasons go to the logs, and a key may be a user's id."""
    key_text = "UID" + text  # (a text no reason holds by itself)
    for topic in (EX, WO):
        batch = prepare([Record(topic, 0, 0, key_text.encode(), value)], ROLES, [], 0)
        for op in batch.ops:
            if isinstance(op[1], str):
                assert key_text not in op[1] or key_text in (value or b"").decode(errors="replace")
