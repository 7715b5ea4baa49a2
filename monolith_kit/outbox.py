"""Writing events into the outbox table on the caller's connection, in the caller's
transaction: the event commits with the change, or neither does.

Works with a SQLAlchemy `Connection` or `Session` (anything with `.execute(statement,
params)`): the kit never begins, commits or rolls back; the caller's `with engine.begin()`,
`session.commit()` or Flask-SQLAlchemy's request transaction does.

An event that carries a revision (the exercise events) first claims it in
`outbox_revisions`, in the same transaction: the claim succeeds only above the last
revision written for that aggregate, and holds the aggregate's row lock until the commit.
So an exercise's revisions only grow (across delete and re-create, and after the outbox is
pruned), its events commit, and Debezium publishes them, in revision order, and the last
record per key on the compacted topic is always the newest: a stale upsert never outlives
compaction. A live write with a stale revision raises `StaleRevision` (the monolith broke
the rule: its transaction must fail); the backfill skips one (`republish=True`: a newer
event is already in the outbox).
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


_CLAIM = (
    "INSERT INTO outbox_revisions (aggregatetype, aggregateid, revision) "
    "VALUES (:aggregatetype, :aggregateid, :revision) "
    "ON CONFLICT (aggregatetype, aggregateid) DO UPDATE SET revision = excluded.revision "
    "WHERE outbox_revisions.revision {} excluded.revision RETURNING revision"
)
_CLAIM_ABOVE = text(_CLAIM.format("<"))
_CLAIM_AT_LEAST = text(_CLAIM.format("<="))
_LAST = text(
    "SELECT revision FROM outbox_revisions "
    "WHERE aggregatetype = :aggregatetype AND aggregateid = :aggregateid"
)


class StaleRevision(Exception):
    """An event whose revision is not above the last one the outbox has for its aggregate:
    coach would ignore it, and the monolith and coach would disagree for good."""


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


def last_revision(conn: Executes, aggregatetype: str, aggregateid: str) -> int | None:
    """The last revision the outbox was given for the aggregate (None: never one)."""
    row = conn.execute(_LAST, {"aggregatetype": aggregatetype, "aggregateid": aggregateid})
    found = row.first()
    return None if found is None else int(found[0])


def _claimed(conn: Executes, event: OutboxEvent, *, republish: bool) -> bool:
    """Whether `event`'s revision may be written (None: it carries none); records it."""
    if event.revision is None:
        return True
    claim = _CLAIM_AT_LEAST if republish else _CLAIM_ABOVE
    params = {
        "aggregatetype": event.aggregatetype,
        "aggregateid": event.aggregateid,
        "revision": event.revision,
    }
    return conn.execute(claim, params).first() is not None


def _stale(conn: Executes, event: OutboxEvent) -> StaleRevision:
    last = last_revision(conn, event.aggregatetype, event.aggregateid)
    return StaleRevision(
        f"{event.type} of {event.aggregatetype} {event.aggregateid} at revision "
        f"{event.revision}: the outbox already has revision {last}; a revision must grow "
        "with every change, across delete and re-create (docs/MONOLITH.md)"
    )


def add_to_outbox(conn: Executes, event: OutboxEvent) -> None:
    """Insert `event` into the outbox within the caller's open transaction; raise
    StaleRevision (write nothing) if its revision is not above the aggregate's last."""
    if not _claimed(conn, event, republish=False):
        raise _stale(conn, event)
    conn.execute(_INSERT, _params(event))


def add_all_to_outbox(
    conn: Executes, events: Iterable[OutboxEvent], *, republish: bool = False
) -> int:
    """Insert many events in one statement (executemany) within the caller's transaction;
    return how many were written. `republish` (the backfill): an event at its aggregate's
    last revision is written again and one below it is skipped; otherwise either raises
    StaleRevision."""
    rows = []
    for event in events:
        if _claimed(conn, event, republish=republish):
            rows.append(_params(event))
        elif not republish:
            raise _stale(conn, event)
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
