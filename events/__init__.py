"""The event contract between the monolith (publisher) and coach (consumer).

Every Kafka record value is a CloudEvents 1.0 JSON object in structured mode. This package
holds the pydantic models of the envelope and of the five event types, the topic and key
rules, and the decoding of a raw record. It depends on nothing else of coach's.
"""

from events.codec import Decoded, DecodeError, decode_record, encode_event
from events.models import (
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    USER_ERASED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    CloudEvent,
    Exercise,
    ExerciseDeleted,
    MuscleGroupImpact,
    UserErased,
    WorkoutCompleted,
    WorkoutDeleted,
    WorkoutExercise,
)

__all__ = [
    "EXERCISE_DELETED",
    "EXERCISE_UPSERTED",
    "USER_ERASED",
    "WORKOUT_COMPLETED",
    "WORKOUT_DELETED",
    "CloudEvent",
    "DecodeError",
    "Decoded",
    "Exercise",
    "ExerciseDeleted",
    "MuscleGroupImpact",
    "UserErased",
    "WorkoutCompleted",
    "WorkoutDeleted",
    "WorkoutExercise",
    "decode_record",
    "encode_event",
]
