"""Decoding a raw Kafka record into a validated event, and encoding one for publishing.

Decoding is pure: bytes in, a `Decoded` or a `DecodeError` (with the reason) out, so it can
be tested without a broker and the consumer can send what fails to the dead letters.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from events.models import (
    EVENTS_BY_ROLE,
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    USER_ERASED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    CloudEvent,
)

Role = Literal["exercises", "workouts"]
"""Which of the two topics a record came from (their names are configurable)."""

TOMBSTONE = "tombstone"
"""The `type` given to a null value on the exercises topic: it deletes that exercise."""

ROLE_OF_TYPE: dict[str, Role] = {
    EXERCISE_UPSERTED: "exercises",
    EXERCISE_DELETED: "exercises",
    WORKOUT_COMPLETED: "workouts",
    WORKOUT_DELETED: "workouts",
    USER_ERASED: "workouts",
}


class DecodeError(ValueError):
    """A record that cannot be decoded or validated; the message says why."""


class Decoded(msgspec.Struct, frozen=True, gc=False):
    """A record that decoded cleanly. (A Struct: made once per record, it costs a quarter of
    what a NamedTuple does.)

    `data` is the validated `data` (a dict of the shapes in events.models) for a known type,
    the exercise id (int) for a tombstone, and None for a type this version does not know
    (`known` is then False).
    """

    type: str
    data: Any
    event_id: str | None
    known: bool = True


_BY_ROLE: dict[str, msgspec.json.Decoder[Any]] = {
    role: msgspec.json.Decoder(union) for role, union in EVENTS_BY_ROLE.items()
}
_ENVELOPE = msgspec.json.Decoder(CloudEvent)
_TYPE_OF: dict[type, str] = {
    cls: cls.__struct_config__.tag for union in EVENTS_BY_ROLE.values() for cls in union.__args__
}
_ENTITY_FIELD = {"exercises": "id", "workouts": "user_id"}
MAX_ID = 2**63 - 1


MAX_ID_DIGITS = 19
"""Digits of the largest exercise id the contract allows (2**63 - 1)."""


def exercise_id_from_key(key: str | None) -> int:
    """The exercise id of an exercises-topic key: its canonical text only.

    Canonical: ASCII decimal digits, no sign, no leading zero, at most 2**63 - 1. Anything
    else (`007`, `²`, Arabic-Indic digits, 5,000 digits) is refused: `int()` would read some
    of them as another key's id, which compaction keeps apart, and raise on others."""
    if (
        key is None
        or not 0 < len(key) <= MAX_ID_DIGITS
        or not key.isascii()
        or not key.isdigit()
        or key[0] == "0"
        or int(key) > MAX_ID
    ):
        raise DecodeError(
            f"exercises key must be a canonical positive decimal id, got {_described(key)}"
        )
    return int(key)


def _described(key: str | None) -> str:
    """A key as reasons and logs may show it: its length, never its text (a key may be a
    user's id, which logs must not carry; the dead letter keeps the key itself)."""
    return "no key" if key is None else f"a key of {len(key)} characters"


def decode_record(role: Role, key: bytes | None, value: bytes | None) -> Decoded:
    """Decode one record of the `role` topic; raise DecodeError with the reason if invalid.

    The value's JSON is parsed and validated in one pass against the events that belong on
    the topic. Only when that fails is the bare envelope read, to tell an unknown type
    (skipped) or a type of the other topic from a broken record.
    """
    try:
        key_text = key.decode() if key is not None else None
    except UnicodeDecodeError:
        raise DecodeError("key is not UTF-8 text") from None
    if value is None:
        if role == "exercises":
            return Decoded(TOMBSTONE, exercise_id_from_key(key_text), None)
        raise DecodeError("null value on the workouts topic")
    try:
        event = _BY_ROLE[role].decode(value)
    except msgspec.DecodeError as exc:
        return _not_of_this_topic(role, value, exc)
    field = _ENTITY_FIELD[role]
    if key_text != str(getattr(event.data, field)):
        raise DecodeError(
            f"record key ({_described(key_text)}) does not match the event's data.{field}"
        )
    return Decoded(_TYPE_OF[type(event)], event.data, event.id)


def _not_of_this_topic(role: Role, value: bytes, exc: msgspec.DecodeError) -> Decoded:
    try:
        envelope = _ENVELOPE.decode(value)
    except msgspec.ValidationError as envelope_exc:
        if str(envelope_exc).startswith("Expected `object`"):
            raise DecodeError(f"value is not a JSON object: {envelope_exc}") from None
        raise DecodeError(f"invalid CloudEvent: {envelope_exc}") from None
    except msgspec.DecodeError as envelope_exc:
        raise DecodeError(f"value is not JSON: {envelope_exc}") from None
    if envelope.type not in ROLE_OF_TYPE:
        return Decoded(envelope.type, None, envelope.id, known=False)
    if ROLE_OF_TYPE[envelope.type] != role:
        raise DecodeError(f"{envelope.type} does not belong on the {role} topic")
    raise DecodeError(f"invalid {envelope.type} event: {exc}")


def record_key(event: dict[str, Any]) -> str:
    """The Kafka key of an event: the exercise id, or the user id, as text."""
    data = event.get("data") or {}
    role = ROLE_OF_TYPE.get(event.get("type", ""))
    if role == "exercises":
        return str(data["id"])
    if role == "workouts":
        return str(data["user_id"])
    raise DecodeError(f"unknown event type {event.get('type')!r}: cannot tell its topic")


def encode_event(
    type_: str,
    data: dict[str, Any],
    *,
    source: str = "/monolith/fit",
    event_id: str | None = None,
    time: datetime | None = None,
) -> dict[str, Any]:
    """Wrap `data` in a CloudEvents 1.0 envelope (as the monolith's publisher does)."""
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": type_,
        "time": (time or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
