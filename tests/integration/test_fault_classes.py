"""A fault that is not the record's (no memory, a corrupt file) is never a dead letter: the
batch is not stored, no offset advances, and the consumer tries it again (consumer/commit.py
`is_record_fault`). A record's own fault still is a dead letter, alone."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

import pytest

import consumer.handlers
import consumer.inline_writer
import store.writes
from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.inline_writer import InlineWriter
from consumer.records import Record
from events import EXERCISE_UPSERTED
from store import reads
from store.db import connect
from tests.conftest import WRITER_TEST_TIMEOUT
from tests.factories import EX, ROLES, WO, completed, upserted, value_of
from tests.integration.test_writer_process import (
    UNKNOWN,
    Stream,
    assert_same_projection,
    consume,
    ground_truth,
    projector_on,
)
from wod.instants import to_us

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CTX = Context(now_us=to_us(NOW))

# A test that waits on the writer (a child process, or a consumer loop that retries a batch
# until it is stored) would wait forever when the code under test raises on every try: it
# fails after WRITER_TEST_TIMEOUT instead (pytest-timeout; each takes under 2 s here).
pytestmark = pytest.mark.timeout(WRITER_TEST_TIMEOUT)


def records() -> list[Record]:
    return [
        Record(EX, 0, 0, b"1", value_of(upserted(1))),
        Record(WO, 0, 0, b"7", value_of(completed("w1", 7, NOW, [(1, 5.0, 5)]))),
    ]


def raising(exc: BaseException):  # type: ignore[no-untyped-def]
    def fail(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise exc

    return fail


def assert_nothing_stored(conn: sqlite3.Connection) -> None:
    assert reads.positions(conn) == {}
    assert conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM exercises").fetchone()[0] == 0


def test_memory_error_is_not_a_dead_letter(db_path, monkeypatch):
    """MemoryError in the run of workouts, then in a handler: it propagates each time."""
    conn = connect(db_path)
    monkeypatch.setattr(store.writes, "add_workouts", raising(MemoryError()))
    with pytest.raises(MemoryError):
        commit_records(conn, records(), roles=ROLES, ctx=CTX)
    assert_nothing_stored(conn)
    monkeypatch.undo()
    handlers = dict(consumer.handlers.HANDLERS)
    handlers[EXERCISE_UPSERTED] = raising(MemoryError())
    monkeypatch.setattr(consumer.handlers, "HANDLERS", handlers)
    monkeypatch.setattr("consumer.commit.HANDLERS", handlers)
    with pytest.raises(MemoryError):
        commit_records(conn, records(), roles=ROLES, ctx=CTX)
    assert_nothing_stored(conn)


def test_database_corruption_does_not_advance_offsets(db_path, monkeypatch):
    """A DatabaseError that is not an OperationalError (a corrupt page) is the file's fault."""
    conn = connect(db_path)
    corrupt = sqlite3.DatabaseError("database disk image is malformed")
    monkeypatch.setattr(store.writes, "add_workouts", raising(corrupt))
    with pytest.raises(sqlite3.DatabaseError, match="malformed"):
        commit_records(conn, records(), roles=ROLES, ctx=CTX)
    assert_nothing_stored(conn)


def test_an_os_error_in_a_handler_does_not_advance_offsets(db_path, monkeypatch):
    conn = connect(db_path)
    monkeypatch.setattr(store.writes, "upsert_exercise", raising(OSError(5, "I/O error")))
    with pytest.raises(OSError):
        commit_records(conn, records(), roles=ROLES, ctx=CTX)
    assert_nothing_stored(conn)


def test_an_integrity_error_of_one_record_is_still_its_dead_letter(db_path):
    conn = connect(db_path)
    conn.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON workouts BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )
    result = commit_records(conn, records(), roles=ROLES, ctx=CTX)
    assert result.dead_letters == 1
    assert reads.positions(conn) == {(EX, 0): 1, (WO, 0): 1}
    [(error,)] = conn.execute("SELECT error FROM dead_letters")
    assert "IntegrityError: refused" in error


# -- the consumer retries them, committing through the InlineWriter --------------------------------


def consume_inline(tmp_path, monkeypatch, commit) -> sqlite3.Connection:  # type: ignore[no-untyped-def]
    """Two batches through the consumer's retry loop and an InlineWriter whose `commit` is
    `commit`; gives up (raising) after 5 s of retries."""
    path = tmp_path / "coach.db"
    projector = projector_on(path, monkeypatch)
    monkeypatch.setattr(consumer.inline_writer, "commit", commit)
    projector.writer = InlineWriter(projector.conn, projector.roles, on_result=projector.totals.add)
    stream = Stream()
    parts = [
        stream.events(upserted(1), UNKNOWN, completed("w1", 7, NOW, [(1, 5.0, 5)])),
        [stream.record(EX, b"1", None), *stream.events(upserted(1, revision=2), UNKNOWN)],
    ]

    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(5.0, stop.set)
        await consume(projector, stop, parts)

    asyncio.run(run())
    assert_same_projection(connect(path), ground_truth(tmp_path / "inline.db", parts))
    assert projector.totals.records == sum(map(len, parts))
    return projector.conn


def test_memory_error_from_the_writer_is_retried_not_fatal(tmp_path, monkeypatch):
    real, calls = consumer.inline_writer.commit, []

    def commit(conn, batch):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise MemoryError()
        return real(conn, batch)

    consume_inline(tmp_path, monkeypatch, commit)
    assert len(calls) == 3


def test_an_inline_commit_that_raised_is_safe_to_retry(tmp_path, monkeypatch):
    """The second batch is stored, but its commit raises, leaving a transaction open (as a
    failed COMMIT can): the retry rolls that back, finds the batch's offsets stored, and
    does not apply it again (its tombstone would delete the re-created exercise)."""
    real, calls = consumer.inline_writer.commit, []

    def commit(conn, batch):  # type: ignore[no-untyped-def]
        calls.append(1)
        result = real(conn, batch)
        if len(calls) == 2:
            conn.execute("BEGIN IMMEDIATE")
            raise sqlite3.OperationalError("disk I/O error")
        return result

    conn = consume_inline(tmp_path, monkeypatch, commit)
    assert not conn.in_transaction
    assert reads.stats(conn)["exercises"] == 1
