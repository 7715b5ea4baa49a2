"""Pydantic models of the CloudEvents envelope and of the data of each event type."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    WithJsonSchema,
)

EXERCISE_UPSERTED = "fitness.exercise.upserted"
EXERCISE_DELETED = "fitness.exercise.deleted"
WORKOUT_COMPLETED = "fitness.workout.completed"
WORKOUT_DELETED = "fitness.workout.deleted"


def _id_as_text(value: Any) -> Any:
    """A user id may come as a JSON number or as text; from then on it is text."""
    if isinstance(value, bool):
        raise ValueError("a user id is a string or an integer, not a boolean")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and not value.strip():
        raise ValueError("a user id must not be blank")
    return value


UserId = Annotated[
    str,
    BeforeValidator(_id_as_text),
    WithJsonSchema({"anyOf": [{"type": "string", "minLength": 1}, {"type": "integer"}]}),
]
PositiveId = Annotated[int, Field(ge=1, strict=True)]
NonEmptyText = Annotated[str, Field(min_length=1, max_length=200)]


class _Model(BaseModel):
    # Fields a newer monolith adds are ignored, not rejected: the contract grows by adding.
    model_config = ConfigDict(extra="ignore", frozen=True)


class MuscleGroupImpact(_Model):
    """How strongly an exercise works one muscle group."""

    id: PositiveId
    name: NonEmptyText
    body_part: NonEmptyText
    is_primary: StrictBool
    intensity: Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class Exercise(_Model):
    """`data` of fitness.exercise.upserted: the whole exercise."""

    id: PositiveId
    name: NonEmptyText
    description: Annotated[str, Field(max_length=5000)] = ""
    difficulty: Annotated[int, Field(ge=1, le=5, strict=True)]
    revision: Annotated[int, Field(ge=0, strict=True)]
    default_weight: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
    default_reps: Annotated[int, Field(ge=1, strict=True)]
    muscle_groups: list[MuscleGroupImpact]


class ExerciseDeleted(_Model):
    """`data` of fitness.exercise.deleted."""

    id: PositiveId
    revision: Annotated[int, Field(ge=0, strict=True)]


class WorkoutExercise(_Model):
    """One exercise done in a completed workout."""

    exercise_id: PositiveId
    sets: Annotated[int, Field(ge=1, strict=True)]
    reps: Annotated[int, Field(ge=1, strict=True)]
    weight: Annotated[float, Field(ge=0.0, allow_inf_nan=False)]


class WorkoutCompleted(_Model):
    """`data` of fitness.workout.completed. `completed_at` carries its UTC offset."""

    workout_id: NonEmptyText
    user_id: UserId
    completed_at: AwareDatetime
    exercises: list[WorkoutExercise]


class WorkoutDeleted(_Model):
    """`data` of fitness.workout.deleted."""

    workout_id: NonEmptyText
    user_id: UserId


class CloudEvent(_Model):
    """The CloudEvents 1.0 envelope (structured mode) around every record value."""

    specversion: Literal["1.0"]
    id: NonEmptyText
    source: NonEmptyText
    type: NonEmptyText
    time: datetime | None = None
    subject: str | None = None
    datacontenttype: str | None = None
    data: Any = None


DATA_MODELS: dict[str, type[_Model]] = {
    EXERCISE_UPSERTED: Exercise,
    EXERCISE_DELETED: ExerciseDeleted,
    WORKOUT_COMPLETED: WorkoutCompleted,
    WORKOUT_DELETED: WorkoutDeleted,
}
"""The event types this version of coach understands, with the model of their `data`."""
