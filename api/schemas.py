"""Response models: the shapes the api documents in its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field


class MuscleGroupImpact(BaseModel):
    id: int
    name: str
    body_part: str
    is_primary: bool
    intensity: float = Field(ge=0.0, le=1.0)


class WodExercise(BaseModel):
    id: int
    name: str
    description: str
    difficulty: int = Field(ge=1, le=5)
    muscle_groups: list[MuscleGroupImpact]
    suggested_weight: float
    suggested_reps: int


class WodResponse(BaseModel):
    exercises: list[WodExercise]
    generated_at: datetime


class FieldError(BaseModel):
    loc: list[str]
    msg: str
    type: str


class ErrorBody(BaseModel):
    detail: str
    errors: list[FieldError] | None = Field(
        None, description="For a bad parameter: which one and why."
    )


class Health(BaseModel):
    status: Literal["ok", "failing"]
    database: str


class ReadyCheck(BaseModel):
    name: Literal["database", "catalog", "heartbeat", "lag", "data_age", "storage"]
    ok: bool
    detail: str
    degraded: bool = Field(
        False, description="Holds only just (the broker unreachable); never fails readiness."
    )


class Ready(BaseModel):
    status: Literal["ready", "degraded", "not ready"]
    failing: list[str] = Field(description="Names of the checks that failed.")
    degraded: list[str] = Field(
        default_factory=list, description="Names of the checks that hold only just."
    )
    checks: list[ReadyCheck]


class PartitionLag(BaseModel):
    topic: str
    partition: int
    next_offset: int = Field(description="The next offset the consumer will apply.")
    high_watermark: int | None = Field(
        description="The partition's end offset when the consumer last looked."
    )
    lag: int | None = Field(description="high_watermark - next_offset; null when unknown.")
    last_event_at: datetime | None = Field(
        description="Kafka timestamp of the last record applied."
    )


class Lag(BaseModel):
    partitions: list[PartitionLag]
    total_lag: int | None = Field(description="Sum of the lags; null when one is unknown.")
    data_age_seconds: int | None = Field(
        description="The projection holds every event published before now minus this."
    )
    heartbeat_at: datetime | None
    heartbeat_age_seconds: float | None = Field(
        description="Seconds since the consumer's last heartbeat; null if it never beat."
    )
    broker_reachable: bool = Field(description="Whether the consumer last reached Kafka.")
    last_error: str | None = Field(description="The consumer's last error, if any.")
    dead_letters: int
