"""Row shapes of the projection, and the JSON of a workout's exercises."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import msgspec
import orjson

from wod.history import CompletedRow


class ExerciseRow(NamedTuple):
    id: int
    name: str
    description: str
    difficulty: int
    default_weight: float
    default_reps: int
    revision: int


class ImpactRow(NamedTuple):
    muscle_group_id: int
    name: str
    body_part: str
    is_primary: bool
    intensity: float


class WorkoutRow(NamedTuple):
    """A completed workout as stored: `exercises` is JSON [[exercise_id, sets, reps,
    weight], ...] (see `encode_exercises`)."""

    user_id: str
    workout_id: str
    completed_at_us: int
    exercises: bytes
    n_exercises: int


class PositionRow(NamedTuple):
    topic: str
    partition: int
    next_offset: int
    high_watermark: int | None
    last_event_at_us: int | None


_ENCODER = msgspec.json.Encoder()


def encode_exercises(rows: Sequence[Sequence[int | float]]) -> bytes:
    """[[exercise_id, sets, reps, weight], ...] as compact JSON.

    msgspec writes these lists of tuples about 2.5 times faster than orjson, byte for byte
    the same for weights in the contract's range (tests/unit/test_rows.py)."""
    return _ENCODER.encode(rows)


_DECODER = msgspec.json.Decoder(list[CompletedRow])


def decode_exercises(blob: bytes) -> list[CompletedRow]:
    """The rows of `encode_exercises`' JSON. msgspec builds the tuples in C (a third of the
    time of building them in Python; every WOD for a user not seen before decodes each of
    their window's workouts). A weight stored as an integer comes back as a float, as SQLite's
    REAL columns hold it. A blob of another shape than msgspec expects (none is written so)
    is read as it always was."""
    try:
        return _DECODER.decode(blob)
    except msgspec.MsgspecError:  # the wrong shape, or not JSON: the old way decides
        return [CompletedRow(*e) for e in orjson.loads(blob)]
