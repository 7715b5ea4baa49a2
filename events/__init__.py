"""The event contract between the monolith (publisher) and coach (consumer).

Every Kafka record is a CloudEvents 1.0 event in either content mode of the Kafka binding:
structured (the value is the JSON envelope) or binary (the attributes in `ce_*` headers).
This package holds the models of the envelope and of the five event types, the topic and key
rules, the decoding of a raw record in either mode, and which users an event names.
It depends on nothing else of coach's.
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
