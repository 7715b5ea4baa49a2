"""The contract's CloudEvents, built and validated with coach's own event models.

Each builder validates `data` against the model coach's consumer decodes it with
(events/models.py), wraps it in the structured-mode envelope (events/codec.py
`encode_event`) and returns the outbox row: a builder never produces an event that coach
would dead-letter, and a contract change fails here as it fails in coach.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec
import orjson

from events.codec import ROLE_OF_TYPE, Role, decode_record, encode_event, record_key
from events.models import (
    DATA_MODELS,
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    USER_ERASED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
)

SOURCE = "/monolith/fit"
AGGREGATE_TYPES = {"exercises": "exercise", "workouts": "workout", "erasures": "erasure"}
"""The outbox's `aggregatetype` of each topic role; Debezium routes on it."""


@dataclass(frozen=True, slots=True)
class OutboxEvent:
    """One row of the outbox: Debezium publishes `payload` to the topic of `aggregatetype`
    with `aggregateid` as the record key."""

    id: uuid.UUID
    aggregatetype: str
    aggregateid: str
    type: str
    payload: str
    """The structured-mode CloudEvent as JSON text (stored as written, in a `json` column)."""
    revision: int | None = None
    """The aggregate's revision the event carries (exercise events), else None: the outbox
    refuses one that is not above the last it wrote for the aggregate (outbox.py)."""


def build(
    type_: str,
    data: dict[str, Any],
    *,
    source: str = SOURCE,
    event_id: uuid.UUID | None = None,
    time: datetime | None = None,
    role: Role | None = None,
) -> OutboxEvent:
    """The outbox row of an event of `type_` (for the topic of `role`, by default the
    type's); raises ValueError if `data` breaks the contract (coach would dead-letter it)."""
    model = DATA_MODELS.get(type_)
    if model is None:
        raise ValueError(f"{type_!r} is not an event type of the contract")
    try:
        msgspec.convert(data, model)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid {type_} data: {exc}") from None
    event_id = event_id or uuid.uuid4()
    event = encode_event(type_, data, source=source, event_id=str(event_id), time=time)
    payload = orjson.dumps(event)
    key = record_key(event)
    role = role or ROLE_OF_TYPE[type_]
    decode_record(role, key.encode(), payload)  # what coach will do with it: must not raise
    revision = data.get("revision")
    return OutboxEvent(
        event_id,
        AGGREGATE_TYPES[role],
        key,
        type_,
        payload.decode(),
        revision if isinstance(revision, int) else None,
    )


def _utc_text(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("completed_at must carry its UTC offset (an aware datetime)")
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def exercise_upserted(
    *,
    id: int,
    name: str,
    difficulty: int,
    revision: int,
    default_weight: float,
    default_reps: int,
    muscle_groups: list[dict[str, Any]],
    description: str = "",
    **envelope: Any,
) -> OutboxEvent:
    """fitness.exercise.upserted: the whole exercise, after a create or an edit. `revision`
    must grow with every change of the exercise (coach keeps the highest it has seen)."""
    data = {
        "id": id,
        "name": name,
        "description": description,
        "difficulty": difficulty,
        "revision": revision,
        "default_weight": float(default_weight),
        "default_reps": default_reps,
        "muscle_groups": muscle_groups,
    }
    return build(EXERCISE_UPSERTED, data, **envelope)


def exercise_deleted(*, id: int, revision: int, **envelope: Any) -> OutboxEvent:
    """fitness.exercise.deleted: `revision` higher than the exercise's last upsert."""
    return build(EXERCISE_DELETED, {"id": id, "revision": revision}, **envelope)


def workout_completed(
    *,
    workout_id: str,
    user_id: str | int,
    completed_at: datetime,
    exercises: list[dict[str, Any]],
    **envelope: Any,
) -> OutboxEvent:
    """fitness.workout.completed; `exercises`: {exercise_id, sets, reps, weight} each."""
    data = {
        "workout_id": str(workout_id),
        "user_id": user_id,
        "completed_at": _utc_text(completed_at),
        "exercises": [
            {
                "exercise_id": e["exercise_id"],
                "sets": e["sets"],
                "reps": e["reps"],
                "weight": float(e["weight"]),
            }
            for e in exercises
        ],
    }
    return build(WORKOUT_COMPLETED, data, **envelope)


def workout_deleted(*, workout_id: str, user_id: str | int, **envelope: Any) -> OutboxEvent:
    """fitness.workout.deleted."""
    return build(WORKOUT_DELETED, {"workout_id": str(workout_id), "user_id": user_id}, **envelope)


def user_erased(
    *, user_id: str | int, role: Role = "erasures", time: datetime | None = None, **envelope: Any
) -> OutboxEvent:
    """fitness.user.erased (GDPR article 17), keyed by the user id: by default for the
    compacted erasures topic, which keeps it for good; `role="workouts"` for the workouts
    topic. `time` is the erasure's instant (now by default): call it in the transaction
    that deletes the user's rows. Prefer `user_erased_rows`, which gives both."""
    return build(
        USER_ERASED, {"user_id": user_id}, role=role, time=time or datetime.now(UTC), **envelope
    )


def user_erased_rows(*, user_id: str | int, time: datetime | None = None) -> list[OutboxEvent]:
    """The two outbox rows of an erasure, with one `time`: for the erasures topic (what
    coach reads before the workouts when it builds a projection, kept after retention)
    and for the workouts topic (what coaches without the erasures topic read). Coach
    applies both; the second changes nothing (docs/PRIVACY.md)."""
    at = time or datetime.now(UTC)
    return [
        user_erased(user_id=user_id, role="erasures", time=at),
        user_erased(user_id=user_id, role="workouts", time=at),
    ]
