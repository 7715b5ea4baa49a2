"""The first backfill: the catalog as it is and the last days of completed workouts, read
from the monolith's own tables and written into the outbox in batches, one transaction per
batch. Safe to run twice: each event carries a new id, and coach's rules absorb repeats (an
exercise at a revision it already holds changes nothing, a workout id it holds is the same
workout).

Safe to run while the monolith writes: the catalog is read from a snapshot that live writes
may overtake (an exercise edited or deleted meanwhile). Each exercise event claims its
revision in its batch's transaction (monolith_kit/outbox.py): one below the last revision
the outbox has for that exercise is skipped, so the backfill never writes an event older
than one already written, and the last record per key on the compacted topic stays the
newest (counted as `stale`).

Coach's /ready answers 503 until it has applied what the backfill published (its lag is over
COACH_READY_MAX_LAG until then).

The workouts are read from a snapshot, and a user may be erased while the backfill runs:
each batch of workouts is checked again inside its own write transaction (the source's
`current`, which reads and locks the rows that still exist), so a workout of a user erased
since the snapshot is never written after their erasure, and an erasure not committed yet
waits for the batch (its events then follow the workouts in the topic).

The kit does not know the monolith's schema: the monolith gives a `BackfillSource`, two
functions that turn its rows into events (deploy/monolith/models.py has the stand-in's).

    python -m monolith_kit.backfill --database-url postgresql+psycopg://... \\
        --source deploy.monolith.models:BACKFILL [--days 2] [--batch-size 1000]
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, create_engine

from monolith_kit.builders import OutboxEvent
from monolith_kit.outbox import add_all_to_outbox


@dataclass(frozen=True)
class BackfillSource:
    """How to read the monolith's tables as events (each yielded lazily, in any order).

    `catalog(conn)`: an exercise_upserted for every exercise of the catalog.
    `completed_workouts(conn, since)`: a workout_completed for every workout completed at or
    after `since` (an aware UTC datetime).
    `current(conn, events)`: of those workout events, the ones whose user (and workout)
    still exist, read on `conn` inside the write transaction and locked there (`SELECT ...
    FOR SHARE`), so that no erasure commits between the check and the write."""

    catalog: Callable[[Connection], Iterable[OutboxEvent]]
    completed_workouts: Callable[[Connection, datetime], Iterable[OutboxEvent]]
    current: Callable[[Connection, Sequence[OutboxEvent]], list[OutboxEvent]]


@dataclass
class BackfillResult:
    exercises: int = 0
    workouts: int = 0
    stale: int = 0
    """Exercise events skipped: the outbox already had a newer revision (a live write)."""
    batches: int = 0
    seconds: float = 0.0


Progress = Callable[[str, int, float], None]


def _print_progress(phase: str, done: int, elapsed: float) -> None:
    rate = done / elapsed if elapsed > 0 else 0.0
    print(f"backfill: {phase}: {done} events in the outbox ({rate:,.0f}/s)", flush=True)


def _batches(events: Iterable[OutboxEvent], size: int) -> Iterator[list[OutboxEvent]]:
    it = iter(events)
    while batch := list(itertools.islice(it, size)):
        yield batch


def backfill(
    engine: Engine,
    source: BackfillSource,
    *,
    days: float = 2.0,
    batch_size: int = 1000,
    now: datetime | None = None,
    progress: Progress | None = _print_progress,
) -> BackfillResult:
    """Write the catalog, then the workouts completed in the last `days` days, into the
    outbox: one reading connection (a read-only snapshot of the monolith's tables), and one
    transaction per batch of `batch_size` events on another."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    since = (now or datetime.now(UTC)) - timedelta(days=days)
    result = BackfillResult()
    started = time.monotonic()
    with engine.connect() as reader, engine.connect() as writer:
        reader.exec_driver_sql("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for phase, events in (
            ("catalog", source.catalog(reader)),
            ("workouts", source.completed_workouts(reader, since)),
        ):
            done = 0
            for batch in _batches(events, batch_size):
                with writer.begin():
                    if phase == "workouts":  # a user erased since the snapshot: left out
                        batch = source.current(writer, batch)
                    written = add_all_to_outbox(writer, batch, republish=True)
                done += written
                result.stale += len(batch) - written
                result.batches += 1
                if progress:
                    progress(phase, done, time.monotonic() - started)
            if phase == "catalog":
                result.exercises = done
            else:
                result.workouts = done
        reader.rollback()
    result.seconds = time.monotonic() - started
    return result


def _load(spec: str) -> Any:
    module, _, attr = spec.partition(":")
    return getattr(importlib.import_module(module), attr or "BACKFILL")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m monolith_kit.backfill", description=__doc__)
    parser.add_argument("--database-url", required=True, help="SQLAlchemy URL of the monolith")
    parser.add_argument("--source", required=True, help="module:attribute of a BackfillSource")
    parser.add_argument("--days", type=float, default=2.0, help="workouts of the last N days")
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)
    source = _load(args.source)
    # (duck-typed: under `python -m monolith_kit.backfill` this module is __main__, and its
    # BackfillSource is not the class the monolith's module imported)
    fields = ("catalog", "completed_workouts", "current")
    if not all(callable(getattr(source, f, None)) for f in fields):
        parser.error(f"{args.source} is not a BackfillSource")
    engine = create_engine(args.database_url)
    try:
        result = backfill(engine, source, days=args.days, batch_size=args.batch_size)
    finally:
        engine.dispose()
    print(
        f"backfill: done: {result.exercises} exercises and {result.workouts} workouts in "
        f"{result.batches} batches, {result.seconds:.1f} s; {result.stale} stale exercise "
        "events skipped (newer ones were in the outbox)",
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
