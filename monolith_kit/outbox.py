"""Writing events into the outbox table on the caller's connection, in the caller's
transaction: the event commits with the change, or neither does.

Works with a SQLAlchemy `Connection` or `Session` (anything with `.execute(statement,
params)`): the kit never begins, commits or rolls back; the caller's `with engine.begin()`,
`session.commit()` or Flask-SQLAlchemy's request transaction does.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import text

from monolith_kit.builders import OutboxEvent

MIGRATIONS = Path(__file__).resolve().parent / "migrations"
"""The outbox's DDL, one SQL file per step, applied in name order (`migrate`)."""

_INSERT = text(
    "INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload) "
    "VALUES (:id, :aggregatetype, :aggregateid, :type, CAST(:payload AS json))"
)


class Executes(Protocol):
    """A SQLAlchemy Connection or Session."""

    def execute(self, statement: Any, parameters: Any = ..., /) -> Any: ...


def _params(event: OutboxEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "aggregatetype": event.aggregatetype,
        "aggregateid": event.aggregateid,
        "type": event.type,
        "payload": event.payload,
    }


def add_to_outbox(conn: Executes, event: OutboxEvent) -> None:
    """Insert `event` into the outbox within the caller's open transaction."""
    conn.execute(_INSERT, _params(event))


def add_all_to_outbox(conn: Executes, events: Iterable[OutboxEvent]) -> int:
    """Insert many events in one statement (executemany) within the caller's transaction."""
    rows = [_params(e) for e in events]
    if rows:
        conn.execute(_INSERT, rows)
    return len(rows)


def migrate(conn: Executes) -> None:
    """Apply the outbox's DDL (idempotent) on `conn`, in the caller's transaction."""
    for path in sorted(MIGRATIONS.glob("*.sql")):
        conn.execute(text(path.read_text()))


def prune(conn: Executes, older_than: timedelta = timedelta(days=7)) -> int:
    """Delete outbox rows older than `older_than`: Debezium reads the write-ahead log, not
    the table, so a published row is of no further use (keep some for debugging)."""
    result = conn.execute(
        text("DELETE FROM outbox WHERE created_at < now() - make_interval(secs => :secs)"),
        {"secs": older_than.total_seconds()},
    )
    return int(result.rowcount or 0)
