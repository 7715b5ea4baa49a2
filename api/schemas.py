"""Response models: the shapes the api documents in its OpenAPI schema."""

from __future__ import annotations

from datetime import datetime

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


class ErrorBody(BaseModel):
    detail: str


class Health(BaseModel):
    status: str
    database: str
