"""The WOD's JSON, assembled from bytes rendered once per catalog version. Pure.

Each exercise is stored as the head of its JSON object (everything but the suggestions);
a WOD appends the suggestions and joins them, so a request serialises six numbers, not
six nested objects.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

_SUGGESTED_WEIGHT = b',"suggested_weight":'
_SUGGESTED_REPS = b',"suggested_reps":'


def exercise_head(rendered: dict[str, Any]) -> bytes:
    """`{"id":...,"muscle_groups":[...]` : the object without its closing brace."""
    body = orjson.dumps(rendered)
    assert body.endswith(b"}") and len(rendered) > 0
    return body[:-1]


def suggestion_tail(weight: float, reps: int) -> bytes:
    """`,"suggested_weight":60.0,"suggested_reps":8}`."""
    return (
        _SUGGESTED_WEIGHT
        + orjson.dumps(float(weight))
        + _SUGGESTED_REPS
        + orjson.dumps(int(reps))
        + b"}"
    )


def wod_body(exercises: Iterable[bytes], generated_at: str) -> bytes:
    """`{"exercises":[...],"generated_at":"..."}` from rendered exercises."""
    return wod_json(b",".join(exercises), generated_at)


def wod_json(exercises: bytes, generated_at: str) -> bytes:
    """`{"exercises":[...],"generated_at":"..."}` from the exercises' JSON joined by commas."""
    return b"".join(
        (b'{"exercises":[', exercises, b'],"generated_at":', orjson.dumps(generated_at), b"}")
    )


class UtcStamps:
    """RFC 3339 UTC timestamps with microseconds (`2026-11-28T07:15:02.123456Z`) of epoch
    microseconds; the date and time part is formatted once per second."""

    def __init__(self) -> None:
        self._second = -1
        self._prefix = ""

    def __call__(self, us: int) -> str:
        second, micros = divmod(us, 1_000_000)
        if second != self._second:
            moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=second)
            self._prefix = moment.strftime("%Y-%m-%dT%H:%M:%S")
            self._second = second
        return f"{self._prefix}.{micros:06d}Z"
