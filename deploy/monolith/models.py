"""The stand-in monolith's tables (SQLAlchemy), its writes with their outbox events, and
its BackfillSource. What the real monolith's code does with the monolith kit, in miniature:
every write and the event describing it commit in one transaction.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Connection,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    insert,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from monolith_kit import (
    OutboxEvent,
    add_all_to_outbox,
    add_to_outbox,
    exercise_deleted,
    exercise_upserted,
    migrate,
    user_erased_rows,
    workout_completed,
    workout_deleted,
)
from monolith_kit.backfill import BackfillSource


class Base(DeclarativeBase):
    pass


class Exercise(Base):
    __tablename__ = "exercises"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    difficulty: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(BigInteger, default=1)
    default_weight: Mapped[float] = mapped_column(Float)
    default_reps: Mapped[int] = mapped_column(Integer)
    muscle_groups: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    def event_data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "difficulty": self.difficulty,
            "revision": self.revision,
            "default_weight": self.default_weight,
            "default_reps": self.default_reps,
            "muscle_groups": self.muscle_groups,
        }


class DeletedExercise(Base):
    """The last revision of a deleted exercise: a re-created exercise of that id starts above
    it, so an id's revisions only grow (coach ignores a revision it has seen)."""

    __tablename__ = "deleted_exercises"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    revision: Mapped[int] = mapped_column(BigInteger)


class Workout(Base):
    __tablename__ = "workouts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    completed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    exercises: Mapped[list[WorkoutExercise]] = relationship(
        cascade="all, delete-orphan", order_by="WorkoutExercise.position", lazy="selectin"
    )


class WorkoutExercise(Base):
    __tablename__ = "workout_exercises"
    workout_id: Mapped[str] = mapped_column(
        ForeignKey("workouts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    exercise_id: Mapped[int] = mapped_column(BigInteger)
    sets: Mapped[int] = mapped_column(Integer)
    reps: Mapped[int] = mapped_column(Integer)
    weight: Mapped[float] = mapped_column(Float)


def create_schema(conn: Connection) -> None:
    """The monolith's tables and the outbox (its migration), in the caller's transaction."""
    Base.metadata.create_all(conn)
    migrate(conn)


def _completed_event(workout: Workout) -> Any:
    return workout_completed(
        workout_id=workout.id,
        user_id=workout.user_id,
        completed_at=workout.completed_at,
        exercises=[
            {"exercise_id": e.exercise_id, "sets": e.sets, "reps": e.reps, "weight": e.weight}
            for e in workout.exercises
        ],
    )


# -- the writes: the row and its event, in the session's one transaction ----------------------


def save_exercise(session: Session, data: dict[str, Any]) -> Exercise:
    """Create or edit an exercise (its revision grows by one, above a deleted one's of the
    same id) and add its upsert event."""
    exercise = session.get(Exercise, data["id"], with_for_update=True)
    if exercise is None:
        deleted = session.get(DeletedExercise, data["id"], with_for_update=True)
        exercise = Exercise(id=data["id"], revision=deleted.revision if deleted else 0)
        if deleted is not None:
            session.delete(deleted)
        session.add(exercise)
    exercise.name = data["name"]
    exercise.description = data.get("description", "")
    exercise.difficulty = data["difficulty"]
    exercise.default_weight = float(data["default_weight"])
    exercise.default_reps = data["default_reps"]
    exercise.muscle_groups = data.get("muscle_groups", [])
    exercise.revision = (exercise.revision or 0) + 1
    session.flush()
    add_to_outbox(session, exercise_upserted(**exercise.event_data()))
    return exercise


def delete_exercise(session: Session, exercise_id: int) -> bool:
    exercise = session.get(Exercise, exercise_id, with_for_update=True)
    if exercise is None:
        return False
    revision = exercise.revision + 1
    session.delete(exercise)
    session.merge(DeletedExercise(id=exercise_id, revision=revision))
    session.flush()
    add_to_outbox(session, exercise_deleted(id=exercise_id, revision=revision))
    return True


def log_workout(
    session: Session,
    *,
    user_id: str,
    exercises: list[dict[str, Any]],
    completed_at: datetime | None = None,
    workout_id: str | None = None,
) -> Workout:
    """A completed workout and its event."""
    workout = Workout(
        id=workout_id or str(uuid.uuid4()),
        user_id=str(user_id),
        completed_at=completed_at or datetime.now(UTC),
        exercises=[
            WorkoutExercise(
                position=i,
                exercise_id=e["exercise_id"],
                sets=e["sets"],
                reps=e["reps"],
                weight=float(e["weight"]),
            )
            for i, e in enumerate(exercises)
        ],
    )
    session.add(workout)
    session.flush()
    add_to_outbox(session, _completed_event(workout))
    return workout


def log_workouts(session: Session, workouts: list[dict[str, Any]]) -> int:
    """Many completed workouts and their events at once (a bulk import: three multi-row
    INSERTs, the rows, their exercises, their events); each dict as log_workout's
    arguments. Returns how many."""
    now = datetime.now(UTC)
    rows = [
        {
            "id": w.get("workout_id") or str(uuid.uuid4()),
            "user_id": str(w["user_id"]),
            "completed_at": w.get("completed_at") or now,
            "exercises": w["exercises"],
        }
        for w in workouts
    ]
    if not rows:
        return 0
    session.execute(
        insert(Workout), [{k: r[k] for k in ("id", "user_id", "completed_at")} for r in rows]
    )
    session.execute(
        insert(WorkoutExercise),
        [
            {
                "workout_id": r["id"],
                "position": i,
                "exercise_id": e["exercise_id"],
                "sets": e["sets"],
                "reps": e["reps"],
                "weight": float(e["weight"]),
            }
            for r in rows
            for i, e in enumerate(r["exercises"])
        ],
    )
    events = [
        workout_completed(
            workout_id=r["id"],
            user_id=r["user_id"],
            completed_at=r["completed_at"],
            exercises=[
                {"exercise_id": e["exercise_id"], "sets": e["sets"], "reps": e["reps"],
                 "weight": float(e["weight"])}
                for e in r["exercises"]
            ],
        )
        for r in rows
    ]  # fmt: skip
    return add_all_to_outbox(session, events)


def delete_workout(session: Session, workout_id: str) -> bool:
    workout = session.get(Workout, workout_id, with_for_update=True)
    if workout is None:
        return False
    user_id = workout.user_id
    session.delete(workout)
    session.flush()
    add_to_outbox(session, workout_deleted(workout_id=workout_id, user_id=user_id))
    return True


def erase_user(session: Session, user_id: str) -> int:
    """GDPR erasure: the user's workouts go, and coach is told to forget them (on the
    erasures topic, and on the workouts topic for coaches that do not read that one)."""
    workouts = session.scalars(select(Workout).where(Workout.user_id == user_id)).all()
    for workout in workouts:
        session.delete(workout)
    session.flush()
    add_all_to_outbox(session, user_erased_rows(user_id=user_id))
    return len(workouts)


# -- the first backfill's source ---------------------------------------------------------------


def _catalog(conn: Connection) -> Iterator[Any]:
    with Session(bind=conn) as session:
        for exercise in session.scalars(select(Exercise).order_by(Exercise.id)):
            yield exercise_upserted(**exercise.event_data())


def _completed_since(conn: Connection, since: datetime) -> Iterator[Any]:
    with Session(bind=conn) as session:
        query = (
            select(Workout)
            .where(Workout.completed_at >= since)
            .order_by(Workout.completed_at, Workout.id)
            .execution_options(yield_per=1000)
        )
        for workout in session.scalars(query):
            yield _completed_event(workout)


def _current(conn: Connection, events: Sequence[OutboxEvent]) -> list[OutboxEvent]:
    """The workout events whose workout still exists, its row locked until the batch
    commits (this monolith has no users table: an erased user is one whose workouts were
    deleted; a monolith with one would lock the users' rows)."""
    ids = [json.loads(e.payload)["data"]["workout_id"] for e in events]
    held = set(
        conn.scalars(select(Workout.id).where(Workout.id.in_(ids)).with_for_update(read=True))
    )
    return [e for e, workout_id in zip(events, ids, strict=True) if workout_id in held]


BACKFILL = BackfillSource(catalog=_catalog, completed_workouts=_completed_since, current=_current)
"""`python -m monolith_kit.backfill --source deploy.monolith.models:BACKFILL`."""
