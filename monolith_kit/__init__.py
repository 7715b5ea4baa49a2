"""The monolith kit: what the Flask monolith imports to publish coach's events reliably.

Events are built from the same contract models as coach's consumer (events/), so a change of
the contract breaks both sides' tests, and written into the `outbox` table in the caller's
own transaction; Debezium reads that table from PostgreSQL's write-ahead log and publishes
each row to Kafka (docs/MONOLITH.md). It imports nothing of coach's service, only `events`.

    from monolith_kit import add_to_outbox, workout_completed

    with engine.begin() as conn:            # the monolith's own transaction
        conn.execute(insert(workouts), ...)  # the change
        add_to_outbox(conn, workout_completed(workout_id=..., user_id=..., ...))
"""

from monolith_kit.builders import (
    OutboxEvent,
    exercise_deleted,
    exercise_upserted,
    user_erased,
    user_erased_rows,
    workout_completed,
    workout_deleted,
)
from monolith_kit.outbox import (
    MIGRATIONS,
    StaleRevision,
    add_all_to_outbox,
    add_to_outbox,
    last_revision,
    migrate,
    prune,
)

__all__ = [
    "MIGRATIONS",
    "OutboxEvent",
    "StaleRevision",
    "add_all_to_outbox",
    "add_to_outbox",
    "exercise_deleted",
    "exercise_upserted",
    "last_revision",
    "migrate",
    "prune",
    "user_erased",
    "user_erased_rows",
    "workout_completed",
    "workout_deleted",
]
