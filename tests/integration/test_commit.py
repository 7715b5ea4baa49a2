"""Committing a batch (consumer/commit.py) to a real SQLite file, no broker: what one
transaction stores, what `BatchResult` counts and the consumer's totals add up, which records
become dead letters (and what of them is kept), how one failing record is isolated from the
rest of its batch, the offsets stored, and what the log tells the operator."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from consumer.batch import positions_after, prepare
from consumer.commit import BatchResult, apply_event, commit_records
from consumer.handlers import Context
from consumer.inline_writer import InlineWriter
from consumer.records import Record
from events import decode_record, encode_event
from events.codec import Role
from store import dead_letters, reads, status
from store.db import connect
from store.erasure import erasures
from store.rows import PositionRow
from tests.factories import (
    EX,
    ROLES,
    WO,
    completed,
    key_of,
    upserted,
    user_erased,
    value_of,
    workout_deleted,
)
from wod.instants import to_us

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOW_US = to_us(NOW)
CTX = Context(now_us=NOW_US)
STAMP_MS = to_us(NOW - timedelta(hours=1)) // 1000
"""The records' Kafka timestamp: an hour before the clock of the batch."""
AT = NOW - timedelta(hours=5)
"""When the workouts were completed."""
RENAMED = "fitness.exercise.renamed"
RATED = "fitness.workout.rated"
"""Types this version does not know."""


class Records:
    """Records of partition 0 of each topic, numbered in order, all at STAMP_MS."""

    def __init__(self) -> None:
        self.offsets: dict[str, int] = defaultdict(int)

    def raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        headers: tuple[tuple[str, bytes], ...] = (),
    ) -> Record:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return Record(topic, 0, offset, key, value, STAMP_MS, headers)

    def event(self, event: dict[str, Any], *, key: bytes | None = None) -> Record:
        topic = EX if event["type"].startswith("fitness.exercise") else WO
        return self.raw(topic, key_of(event) if key is None else key, value_of(event))

    def unknown(self, type_: str) -> Record:
        topic = EX if type_.startswith("fitness.exercise") else WO
        return self.raw(topic, b"7", value_of(encode_event(type_, {"user_id": 7, "id": 7})))


def workout(workout_id: str) -> dict[str, Any]:
    return completed(workout_id, 7, AT, [(1, 50.0, 5)])


@pytest.fixture
def conn(db_path):  # type: ignore[no-untyped-def]
    conn = connect(db_path)
    yield conn
    conn.close()


def refuse(conn: sqlite3.Connection, table: str, when: str) -> None:
    """SQLite refuses the rows of `table` for which `when` holds (an IntegrityError: the
    record's own fault)."""
    conn.execute(
        f"CREATE TRIGGER refuse_{table} BEFORE INSERT ON {table} WHEN {when} "
        "BEGIN SELECT RAISE(ABORT, 'refused'); END"
    )


def catalog(conn: sqlite3.Connection) -> dict[int, int]:
    """Exercise id -> the revision stored."""
    return dict(conn.execute("SELECT id, revision FROM exercises WHERE deleted = 0"))


def workouts(conn: sqlite3.Connection) -> dict[str, tuple[int, int | None]]:
    """Workout id -> (deleted, deleted_at_us)."""
    rows = conn.execute("SELECT workout_id, deleted, deleted_at_us FROM workouts")
    return {w: (deleted, at) for w, deleted, at in rows}


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What consumer/commit.py logged, at the level the test set (WARNING)."""
    return [r.getMessage() for r in caplog.records if r.name == "consumer.commit"]


def stored_before(conn: sqlite3.Connection, feed: Records) -> None:
    """Exercise 1 at revision 2 and workout w0, committed in a batch of their own."""
    commit_records(
        conn, [feed.event(upserted(1, revision=2)), feed.event(workout("w0"))], roles=ROLES, ctx=CTX
    )


def test_a_clean_batch_is_one_transaction_and_counts_each_record(conn, caplog):
    """Runs of workouts and events in between, new, stale and duplicate, and unknown types:
    all in one transaction, without a savepoint, each record counted once."""
    feed = Records()
    stored_before(conn, feed)
    records = [
        feed.event(workout("w0")),  # stored before: unchanged
        feed.event(workout("w1")),
        feed.event(workout("w2")),
        feed.event(upserted(1, revision=3)),
        feed.event(upserted(1, revision=1)),  # stale: unchanged
        feed.event(upserted(1, revision=2)),  # stale: unchanged
        feed.event(workout("w3")),
        feed.event(workout("w0")),  # unchanged
        feed.unknown(RENAMED),
        feed.event(upserted(2)),
        feed.unknown(RENAMED),
        feed.unknown(RATED),
    ]
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    caplog.set_level(logging.WARNING)

    result = commit_records(conn, records, roles=ROLES, ctx=CTX)

    conn.set_trace_callback(None)
    assert result == BatchResult(
        records=12,
        changed=5,
        unchanged=4,
        unknown=3,
        dead_letters=0,
        unknown_types={RENAMED: 2, RATED: 1},
    )
    assert statements.count("BEGIN IMMEDIATE") == 1
    assert not [s for s in statements if s.startswith(("SAVEPOINT", "ROLLBACK"))]
    assert warnings_of(caplog) == []
    assert catalog(conn) == {1: 3, 2: 1}
    assert set(workouts(conn)) == {"w0", "w1", "w2", "w3"}
    assert status.unknown_events(conn) == 3
    assert dead_letters.count(conn) == 0
    assert status.partitions(conn) == (
        status.PartitionRow(EX, 0, 7, None, STAMP_MS * 1000, NOW_US),
        status.PartitionRow(WO, 0, 7, None, STAMP_MS * 1000, NOW_US),
    )


def test_records_that_do_not_decode_are_dead_letters_kept_whole(conn, caplog):
    """Each is kept with its key, value, headers, Kafka timestamp and reason, at its place;
    the records before and after it are stored, and the offsets move past all of them."""
    feed = Records()
    caplog.set_level(logging.WARNING)
    records = [
        feed.event(upserted(1)),
        feed.raw(WO, b"7", b"{not json", (("trace", b"abc"),)),
        feed.raw(EX, b"5", b"[]"),
        feed.event(workout("w1")),
        feed.event(upserted(2)),
    ]

    result = commit_records(conn, records, roles=ROLES, ctx=CTX)

    assert result == BatchResult(records=5, changed=3, dead_letters=2)
    first, second = dead_letters.oldest(conn)
    assert first[:6] == (first.id, EX, 0, 1, b"5", b"[]")
    assert second[:6] == (second.id, WO, 0, 0, b"7", b"{not json")
    assert "not JSON" in second.error
    for letter in (first, second):
        assert (letter.failed_at_us, letter.timestamp_ms, letter.redacted_at_us) == (
            NOW_US,
            STAMP_MS,
            None,
        )
    assert first.headers == () and second.headers == (("trace", b"abc"),)
    assert warnings_of(caplog) == [
        f"dead letter {WO}/0@0: {second.error}",
        f"dead letter {EX}/0@1: {first.error}",
    ]
    assert catalog(conn) == {1: 1, 2: 1} and set(workouts(conn)) == {"w1"}
    assert reads.positions(conn) == {(EX, 0): 3, (WO, 0): 2}


def test_a_record_that_fails_to_apply_is_isolated_and_the_rest_of_its_batch_stored(conn, caplog):
    """A workout and an exercise SQLite refuses: the batch is redone record by record, and
    those two alone become dead letters (with what an undecodable record does in the same
    batch); every other record is applied and counted as in a clean batch."""
    feed = Records()
    stored_before(conn, feed)
    refuse(conn, "workouts", "NEW.workout_id = 'bad'")
    refuse(conn, "exercises", "NEW.id = 3")
    records = [
        feed.event(workout("w0")),  # unchanged
        feed.event(workout("w1")),
        feed.event(workout("bad")),  # refused: WO 3
        feed.event(workout("w2")),
        feed.event(upserted(1, revision=3)),
        feed.event(upserted(3)),  # refused: EX 2
        feed.event(upserted(1, revision=1)),  # stale: unchanged
        feed.event(workout_deleted("w1", 7)),
        feed.raw(EX, b"9", b"{not json"),  # EX 4
        feed.event(upserted(2)),
        feed.event(workout("w3")),
    ]
    caplog.set_level(logging.WARNING)

    result = commit_records(conn, records, roles=ROLES, ctx=CTX)

    assert result == BatchResult(records=11, changed=6, unchanged=2, dead_letters=3)
    letters = {(letter.topic, letter.offset): letter for letter in dead_letters.oldest(conn)}
    assert set(letters) == {(WO, 3), (EX, 2), (EX, 4)}
    refused = letters[(WO, 3)]
    assert refused[1:] == (
        WO,
        0,
        3,
        b"7",
        records[2].value,
        "could not apply: IntegrityError: refused",
        NOW_US,
        STAMP_MS,
        None,
        None,
    )
    assert letters[(EX, 2)].value == records[5].value
    assert letters[(EX, 2)].error == "could not apply: IntegrityError: refused"
    assert warnings_of(caplog) == [
        "a run of workouts failed (IntegrityError('refused')); retrying record by record",
        f"dead letter {WO}/0@3: could not apply: IntegrityError: refused",
        f"dead letter {EX}/0@2: could not apply: IntegrityError: refused",
        f"dead letter {EX}/0@4: {letters[(EX, 4)].error}",
    ]
    assert catalog(conn) == {1: 3, 2: 1}
    # w1 was stored, then deleted by a later record of the batch, at that record's time.
    assert workouts(conn) == {
        "w0": (0, None),
        "w1": (1, STAMP_MS * 1000),
        "w2": (0, None),
        "w3": (0, None),
    }
    assert status.partitions(conn) == (
        status.PartitionRow(EX, 0, 6, None, STAMP_MS * 1000, NOW_US),
        status.PartitionRow(WO, 0, 7, None, STAMP_MS * 1000, NOW_US),
    )


def test_an_event_that_fails_to_apply_is_named_in_the_log(conn, caplog):
    """The first failure is an event's: the log says which record failed and why before
    the batch is redone, then that it became a dead letter."""
    refuse(conn, "exercises", "NEW.id = 3")
    feed = Records()
    records = [feed.event(upserted(1)), feed.event(upserted(3)), feed.event(upserted(2))]
    caplog.set_level(logging.WARNING)

    result = commit_records(conn, records, roles=ROLES, ctx=CTX)

    assert result == BatchResult(records=3, changed=2, dead_letters=1)
    assert warnings_of(caplog) == [
        f"record {EX}/0@1 failed (IntegrityError('refused')); retrying the batch record by record",
        f"dead letter {EX}/0@1: could not apply: IntegrityError: refused",
    ]
    assert catalog(conn) == {1: 1, 2: 1}
    assert [(letter.offset, letter.error) for letter in dead_letters.oldest(conn)] == [
        (1, "could not apply: IntegrityError: refused")
    ]


def test_an_erasure_keyed_by_another_id_is_applied_at_its_own_time_and_alerted(conn, caplog):
    """Its instant is its own `time`, not the record's timestamp; the mismatch is counted
    and logged with the record's place."""
    feed = Records()
    erased_at = NOW - timedelta(hours=2)
    records = [feed.event(workout("w0")), feed.event(user_erased(7, at=erased_at), key=b"8")]
    caplog.set_level(logging.WARNING)

    result = commit_records(conn, records, roles=ROLES, ctx=CTX)

    assert result == BatchResult(records=2, changed=2)
    assert erasures(conn) == {"7": to_us(erased_at)}
    assert workouts(conn) == {}
    assert status.erasure_key_mismatches(conn) == 1
    [alert] = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert alert.startswith(f"erasure {WO}/0@1: its record key is not its user id")


def test_the_positions_given_are_the_ones_stored(conn):
    """A caller that knows more than the records say (a high watermark, transaction markers
    past the last record) passes the positions; they are stored as given."""
    record = Records().event(workout("w1"))
    given = [PositionRow(WO, 0, 10, 12, 5_000)]
    assert positions_after([record]) != given

    commit_records(conn, [record], roles=ROLES, ctx=CTX, positions=given)

    assert status.partitions(conn) == (status.PartitionRow(WO, 0, 10, 12, 5_000, NOW_US),)
    assert set(workouts(conn)) == {"w1"}


def test_the_consumers_totals_add_up_each_batch_once(conn):
    """Through the writer the consumer uses without a writer process: each batch's result is
    passed on once, in order, and the totals add up every count and unknown type; a batch
    submitted again once committed changes nothing."""
    feed = Records()
    first = prepare(
        [
            feed.event(upserted(1)),
            feed.event(upserted(1)),  # the same again: unchanged
            feed.unknown(RENAMED),
            feed.raw(WO, b"7", b"{not json"),
        ],
        ROLES,
        [PositionRow(EX, 0, 3, None, None), PositionRow(WO, 0, 1, None, None)],
        NOW_US,
    )
    second = prepare(
        [
            feed.event(upserted(2)),
            feed.event(upserted(2)),
            feed.unknown(RENAMED),
            feed.unknown(RATED),
            feed.raw(EX, b"1", b"{not json"),
        ],
        ROLES,
        [PositionRow(EX, 0, 7, None, None), PositionRow(WO, 0, 2, None, None)],
        NOW_US,
    )
    seen: list[BatchResult] = []
    writer = InlineWriter(conn, ROLES, on_result=seen.append)

    async def submit() -> None:
        await writer.submit(first)
        await writer.submit(second)
        await writer.submit(first)

    asyncio.run(submit())

    assert seen == [
        BatchResult(
            records=4, changed=1, unchanged=1, unknown=1, dead_letters=1, unknown_types={RENAMED: 1}
        ),
        BatchResult(
            records=5,
            changed=1,
            unchanged=1,
            unknown=2,
            dead_letters=1,
            unknown_types={RENAMED: 1, RATED: 1},
        ),
    ]
    assert writer.totals == BatchResult(
        records=9,
        changed=2,
        unchanged=2,
        unknown=3,
        dead_letters=2,
        unknown_types={RENAMED: 2, RATED: 1},
        batches=2,
    )
    assert first.committed and second.committed
    assert reads.positions(conn) == {(EX, 0): 7, (WO, 0): 2}
    assert catalog(conn) == {1: 1, 2: 1}


def test_apply_event_applies_one_event_and_says_whether_it_changed_rows(conn):
    """As a dead letter's retry uses it (consumer/dead_letters.py): a completed workout is
    stored once, a handler's event with the record's context."""

    def apply(event: dict[str, Any], role: Role, ctx: Context) -> bool:
        decoded = decode_record(role, key_of(event), value_of(event), ())
        with conn:
            return apply_event(conn, decoded, ctx)

    at_record = CTX.for_record(STAMP_MS)
    assert apply(workout("w1"), "workouts", at_record) is True
    assert apply(workout("w1"), "workouts", at_record) is False
    assert apply(upserted(1), "exercises", at_record) is True
    assert apply(upserted(1), "exercises", at_record) is False
    assert apply(workout_deleted("w1", 7), "workouts", at_record) is True
    assert workouts(conn) == {"w1": (1, STAMP_MS * 1000)}
    assert catalog(conn) == {1: 1}
