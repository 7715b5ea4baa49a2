"""Decoding a raw Kafka record into a validated event, and encoding one for publishing.

Decoding is pure: bytes in, a `Decoded` or a `DecodeError` (with the reason) out, so it can
be tested without a broker and the consumer can send what fails to the dead letters.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from events.content_mode import attribute, content_mode, media_type
from events.erasure_time import last_us_of
from events.errors import DecodeError
from events.models import (
    DATA_MODELS,
    EVENTS_BY_ROLE,
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    USER_ERASED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    CloudEvent,
)

Role = Literal["exercises", "workouts", "erasures"]
"""Which of the three topics a record came from (their names are configurable)."""

TOMBSTONE = "tombstone"
"""The `type` given to a null value on the exercises topic: it deletes that exercise."""

ROLE_OF_TYPE: dict[str, Role] = {
    EXERCISE_UPSERTED: "exercises",
    EXERCISE_DELETED: "exercises",
    WORKOUT_COMPLETED: "workouts",
    WORKOUT_DELETED: "workouts",
    USER_ERASED: "workouts",
}
"""The topic each type is published to by default. An erasure also belongs on the erasures
topic (`belongs`): the monolith publishes it on both (docs/PRIVACY.md)."""


def belongs(type_: str, role: Role) -> bool:
    """Whether an event of `type_` belongs on the `role` topic."""
    return ROLE_OF_TYPE.get(type_) == role or (type_ == USER_ERASED and role == "erasures")


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
    erased_at_us: int | None = None
    """An erasure's instant from its own `time` attribute, at its precision
    (events/erasure_time.py); None when it has none (the record's timestamp is used)."""
    key_mismatch: bool = False
    """An erasure whose record key is not its user id: applied all the same, and alerted."""


_BY_ROLE: dict[str, msgspec.json.Decoder[Any]] = {
    role: msgspec.json.Decoder(union) for role, union in EVENTS_BY_ROLE.items()
}
_ENVELOPE = msgspec.json.Decoder(CloudEvent)
_TYPE_OF: dict[type, str] = {
    cls: cls.__struct_config__.tag
    for union in EVENTS_BY_ROLE.values()
    for cls in getattr(union, "__args__", (union,))
}
_ENTITY_FIELD = {"exercises": "id", "workouts": "user_id", "erasures": "user_id"}
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


def decode_record(
    role: Role,
    key: bytes | None,
    value: bytes | None,
    headers: Sequence[tuple[str, bytes | None]] = (),
) -> Decoded:
    """Decode one record of the `role` topic; raise DecodeError with the reason if invalid.

    Both content modes of the CloudEvents Kafka protocol binding are read: structured (the
    whole event as the JSON value, with a `content-type` of `application/cloudevents+json`
    or none at all) and binary (the attributes in `ce_*` headers, the data as the value).
    The headers are looked at only when there are some, so a record without headers costs
    what it always did.

    In structured mode the value's JSON is parsed and validated in one pass against the
    events that belong on the topic. Only when that fails is the bare envelope read, to tell
    an unknown type (skipped) or a type of the other topic from a broken record.
    """
    try:
        key_text = key.decode() if key is not None else None
    except UnicodeDecodeError:
        raise DecodeError("key is not UTF-8 text") from None
    if headers:
        attributes = content_mode(headers)
        if attributes is not None:
            return _decode_binary(role, key_text, value, attributes)
    if value is None:
        if role == "exercises":
            return Decoded(TOMBSTONE, exercise_id_from_key(key_text), None)
        raise DecodeError(f"null value on the {role} topic")
    try:
        event = _BY_ROLE[role].decode(value)
    except msgspec.DecodeError as exc:
        return _not_of_this_topic(role, value, exc)
    return _checked(_TYPE_OF[type(event)], role, key_text, event.data, event.id, event.time)


def _checked(
    type_: str, role: Role, key_text: str | None, data: Any, event_id: str | None, time: Any
) -> Decoded:
    """The record key must be the entity's id: the exercise id, or the user id. A record
    whose key is not is a dead letter, except an erasure: a valid erasure is applied
    whatever its key (dropping it would keep the user's data), flagged `key_mismatch`."""
    field = _ENTITY_FIELD[role]
    matches = key_text == str(getattr(data, field))
    if type_ != USER_ERASED:
        if not matches:
            raise DecodeError(
                f"record key ({_described(key_text)}) does not match the event's data.{field}"
            )
        return Decoded(type_, data, event_id)
    at = last_us_of(time) if isinstance(time, str) else None
    return Decoded(type_, data, event_id, erased_at_us=at, key_mismatch=not matches)


_DATA_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    type_: msgspec.json.Decoder(model) for type_, model in DATA_MODELS.items()
}


def _decode_binary(
    role: Role,
    key_text: str | None,
    value: bytes | None,
    attributes: dict[str, bytes | None],
) -> Decoded:
    """A binary-mode record: the attributes from `ce_*` headers (and `content-type`), the
    data as the value, validated against the shape of the event's type."""
    if attribute(attributes, "ce_specversion", required=True) != "1.0":
        raise DecodeError("binary-mode event of an unsupported ce_specversion (not 1.0)")
    event_id = attribute(attributes, "ce_id", required=True)
    attribute(attributes, "ce_source", required=True)
    type_ = attribute(attributes, "ce_type", required=True)
    assert type_ is not None
    media = media_type(attributes.get("content-type"))
    if media and media != "application/json" and not media.endswith("+json"):
        raise DecodeError(f"binary-mode data must be JSON, got content-type {media!r}")
    if type_ not in ROLE_OF_TYPE:
        return Decoded(type_, None, event_id, known=False)
    if not belongs(type_, role):
        raise DecodeError(f"{type_} does not belong on the {role} topic")
    if value is None:
        raise DecodeError(f"binary-mode {type_} event without data (null value)")
    try:
        data = _DATA_DECODERS[type_].decode(value)
    except msgspec.ValidationError as exc:
        raise DecodeError(f"invalid {type_} event: {exc} (in binary-mode data)") from None
    except msgspec.DecodeError as exc:
        raise DecodeError(f"binary-mode data is not JSON: {exc}") from None
    return _checked(type_, role, key_text, data, event_id, _erasure_time(type_, attributes))


def _erasure_time(type_: str, attributes: dict[str, bytes | None]) -> str | None:
    """An erasure's `ce_time`; None when it has none or it is not text (an erasure is never
    a dead letter for its time: the record's timestamp stands in)."""
    if type_ != USER_ERASED:
        return None
    try:
        return attribute(attributes, "ce_time", required=False)
    except DecodeError:
        return None


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
    if not belongs(envelope.type, role):
        raise DecodeError(f"{envelope.type} does not belong on the {role} topic")
    raise DecodeError(f"invalid {envelope.type} event: {exc}")


def record_key(event: dict[str, Any]) -> str:
    """The Kafka key of an event: the exercise id, or the user id, as text."""
    data = event.get("data") or {}
    role = ROLE_OF_TYPE.get(event.get("type", ""))
    if role == "exercises":
        return str(data["id"])
    if role in ("workouts", "erasures"):
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
        # to the microsecond always: an erasure's time is compared at its precision
        "time": (time or datetime.now(UTC))
        .astimezone(UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": data,
    }
