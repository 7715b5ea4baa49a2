"""Decoding a raw Kafka record into a validated event, and encoding one for publishing.

Decoding is pure: bytes in, a `Decoded` or a `DecodeError` (with the reason) out, so it can
be tested without a broker and the consumer can send what fails to the dead letters.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import ValidationError

from events.models import (
    DATA_MODELS,
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
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
}


class DecodeError(ValueError):
    """A record that cannot be decoded or validated; the message says why."""


@dataclass(frozen=True, slots=True)
class Decoded:
    """A record that decoded cleanly.

    `data` is the validated model for a known type, the exercise id (int) for a tombstone,
    and None for a type this version does not know (`known` is then False).
    """

    type: str
    data: Any
    event_id: str | None
    known: bool = True


def _error_text(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


def _key_text(key: bytes | None) -> str | None:
    if key is None:
        return None
    try:
        return key.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("key is not UTF-8 text") from exc


def _exercise_id_from_key(key: str | None) -> int:
    if key is None or not key.isdigit() or int(key) < 1:
        raise DecodeError(f"exercises key must be a positive decimal id, got {key!r}")
    return int(key)


def decode_record(role: Role, key: bytes | None, value: bytes | None) -> Decoded:
    """Decode one record of the `role` topic; raise DecodeError with the reason if invalid."""
    key_text = _key_text(key)
    if value is None:
        if role == "exercises":
            return Decoded(TOMBSTONE, _exercise_id_from_key(key_text), None)
        raise DecodeError("null value on the workouts topic")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise DecodeError(f"value is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise DecodeError("value is not a JSON object")
    try:
        envelope = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise DecodeError(f"invalid CloudEvent: {_error_text(exc)}") from exc
    model = DATA_MODELS.get(envelope.type)
    if model is None:
        return Decoded(envelope.type, None, envelope.id, known=False)
    if ROLE_OF_TYPE[envelope.type] != role:
        raise DecodeError(f"{envelope.type} does not belong on the {role} topic")
    try:
        data = model.model_validate(envelope.data)
    except ValidationError as exc:
        raise DecodeError(f"invalid {envelope.type} data: {_error_text(exc)}") from exc
    expected = str(getattr(data, "id", None) or getattr(data, "user_id", ""))
    if key_text != expected:
        raise DecodeError(f"record key {key_text!r} does not match the event's entity {expected!r}")
    return Decoded(envelope.type, data, envelope.id)


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
