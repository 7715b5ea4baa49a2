"""Applying records to a real SQLite projection file: the rules of the event contract."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlite_utils

from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from store import reads
from store.db import connect
from store.fold import fold_and_prune
from tests.factories import (
    EX,
    ROLES,
    WO,
    completed,
    exercise_deleted,
    key_of,
    upserted,
    value_of,
    workout_deleted,
)
from wod.instants import to_us
from wod.suggestion import Performance

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
CTX = Context(now_us=to_us(NOW))


class Feed:
    """Feeds events to the projection as records of one partition per topic."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.offsets = {EX: 0, WO: 0}

    def record(self, topic: str, key: bytes | None, value: bytes | None) -> Record:
        offset = self.offsets[topic]
        self.offsets[topic] += 1
        return Record(topic, 0, offset, key, value, to_us(NOW) // 1000)

    def events(self, *events: dict[str, Any]):  # type: ignore[no-untyped-def]
        records = []
        for event in events:
            topic = EX if event["type"].startswith("fitness.exercise") else WO
            records.append(self.record(topic, key_of(event), value_of(event)))
        return commit_records(self.conn, records, roles=ROLES, ctx=CTX)

    def raw(self, topic: str, key: bytes | None, value: bytes | None):  # type: ignore[no-untyped-def]
        return commit_records(self.conn, [self.record(topic, key, value)], roles=ROLES, ctx=CTX)


@pytest.fixture
def conn(db_path):
    conn = connect(db_path)
    yield conn
    conn.close()


@pytest.fixture
def feed(conn) -> Feed:
    return Feed(conn)


def catalog_names(conn) -> dict[int, str]:
    return {e.id: e.name for e in reads.load_catalog(conn)}


def test_upsert_then_newer_revision_replaces(feed, conn):
    feed.events(upserted(1, revision=1, name="Squat"), upserted(1, revision=2, name="Back Squat"))
    assert catalog_names(conn) == {1: "Back Squat"}


def test_stale_or_equal_revision_changes_nothing(feed, conn):
    """An upsert with a lower or equal revision than the one applied is stale."""
    feed.events(upserted(1, revision=5, name="Five"))
    version = reads.catalog_version(conn)
    result = feed.events(upserted(1, revision=4, name="Four"), upserted(1, revision=5, name="Dup"))
    assert result.unchanged == 2
    assert catalog_names(conn) == {1: "Five"}
    assert reads.catalog_version(conn) == version


def test_delete_with_newer_revision_removes(feed, conn):
    feed.events(upserted(1, revision=1), upserted(2, revision=1), exercise_deleted(1, 2))
    assert set(catalog_names(conn)) == {2}


def test_stale_delete_is_ignored(feed, conn):
    feed.events(upserted(1, revision=3), exercise_deleted(1, 3))
    assert set(catalog_names(conn)) == {1}


def test_delete_before_upsert_blocks_the_older_upsert(feed, conn):
    """A delete (rev 8) that arrives before an older upsert (rev 7) keeps it deleted."""
    feed.events(exercise_deleted(1, 8), upserted(1, revision=7))
    assert catalog_names(conn) == {}
    feed.events(upserted(1, revision=9, name="Back"))
    assert catalog_names(conn) == {1: "Back"}


def test_tombstone_deletes(feed, conn):
    feed.events(upserted(1), upserted(2))
    feed.raw(EX, b"1", None)
    assert set(catalog_names(conn)) == {2}


def test_muscle_groups_are_replaced_on_upsert(feed, conn):
    feed.events(upserted(1, revision=1, groups=(1, 2)), upserted(1, revision=2, groups=(3,)))
    [exercise] = reads.load_catalog(conn)
    assert [g["id"] for g in exercise.muscle_groups] == [3]


def test_workout_delivered_twice_counts_once(feed, conn):
    event = completed("w1", "7", NOW - timedelta(hours=20), [(1, 50.0, 5), (2, 10.0, 12)])
    feed.events(event, event)
    feed.events(event)
    stats = reads.stats(conn)
    assert stats["workouts"] == 1 and stats["completed_exercises"] == 2


def test_deleted_workout_no_longer_counts_as_done(feed, conn):
    at = NOW - timedelta(hours=20)
    feed.events(completed("w1", 7, at, [(1, 50.0, 5)]), completed("w2", 7, at, [(2, 5.0, 5)]))
    feed.events(workout_deleted("w1", 7))
    done = reads.done_between(conn, user_id="7", start_us=0, end_us=to_us(NOW))
    assert done == {2}
    # ... and a late duplicate of the deleted workout does not bring it back.
    feed.events(completed("w1", 7, at, [(1, 50.0, 5)]))
    assert reads.done_between(conn, user_id="7", start_us=0, end_us=to_us(NOW)) == {2}
    assert reads.stats(conn)["workouts"] == 1


def test_latest_performance_per_exercise(feed, conn):
    """The newest workout's entry is the suggestion, whatever the delivery order."""
    feed.events(
        completed("new", 7, NOW - timedelta(hours=2), [(1, 60.0, 5)]),
        completed("old", 7, NOW - timedelta(hours=30), [(1, 50.0, 8)]),
    )
    assert reads.performances(conn, user_id="7", exercise_ids=[1])[1].weight == 60.0


def test_deleting_the_latest_workout_falls_back_to_the_previous(feed, conn):
    feed.events(
        completed("old", 7, NOW - timedelta(hours=30), [(1, 50.0, 8)]),
        completed("new", 7, NOW - timedelta(hours=2), [(1, 60.0, 5)]),
        workout_deleted("new", 7),
    )
    perf = reads.performances(conn, user_id="7", exercise_ids=[1])[1]
    assert (perf.weight, perf.reps) == (50.0, 8)


def fold(conn) -> int:  # type: ignore[no-untyped-def]
    """What the consumer does once a minute: fold workouts older than the window."""
    from store.db import transaction

    with transaction(conn):
        return fold_and_prune(conn, before_us=to_us(NOW - timedelta(hours=50)))


def test_old_workouts_are_folded_into_performances(feed, conn):
    """Past the window a workout stops counting as history but stays a suggestion."""
    feed.events(
        completed("w-old", 7, NOW - timedelta(days=10), [(3, 30.0, 10)]),
        completed("w-new", 7, NOW - timedelta(hours=3), [(4, 12.0, 6)]),
    )
    assert fold(conn) == 1
    stats = reads.stats(conn)
    assert stats["workouts"] == 1 and stats["completed_exercises"] == 1
    perf = reads.performances(conn, user_id="7", exercise_ids=[3, 4])
    assert (perf[3].weight, perf[3].reps, perf[4].weight) == (30.0, 10, 12.0)
    assert fold(conn) == 0


def test_a_folded_workout_can_still_be_deleted(feed, conn):
    feed.events(completed("w-old", 7, NOW - timedelta(days=10), [(3, 30.0, 10)]))
    fold(conn)
    feed.events(workout_deleted("w-old", 7))
    assert reads.performances(conn, user_id="7", exercise_ids=[3]) == {}


def test_a_newer_folded_performance_beats_an_older_late_workout(feed, conn):
    """A late, older workout in the window does not override a newer folded one."""
    feed.events(completed("w1", 7, NOW - timedelta(days=3), [(3, 50.0, 5)]))
    fold(conn)
    feed.events(completed("w0", 7, NOW - timedelta(days=4), [(3, 40.0, 8)]))
    assert reads.performances(conn, user_id="7", exercise_ids=[3])[3].weight == 50.0
    fold(conn)
    assert reads.performances(conn, user_id="7", exercise_ids=[3])[3].weight == 50.0


def test_bad_records_go_to_dead_letters_and_the_partition_moves_on(feed, conn):
    """A record that cannot be decoded is kept with its reason; the offset advances."""
    result = feed.raw(WO, b"7", b"{not json")
    feed.events(completed("w1", 7, NOW - timedelta(hours=1), [(1, 5.0, 5)]))
    assert result.dead_letters == 1
    db = sqlite_utils.Database(conn)
    [letter] = list(db["dead_letters"].rows)
    assert letter["topic"] == WO and letter["offset"] == 0 and letter["value"] == b"{not json"
    assert "not JSON" in letter["error"]
    assert reads.positions(conn) == {(WO, 0): 2}
    assert reads.stats(conn)["workouts"] == 1


def test_unknown_types_are_skipped_and_counted(feed, conn):
    event = upserted(1)
    event["type"] = "fitness.exercise.renamed"
    result = feed.events(event)
    assert result.unknown == 1
    assert reads.stats(conn)["unknown_events"] == 1 and catalog_names(conn) == {}


def test_offsets_are_stored_with_the_rows(feed, conn):
    feed.events(upserted(1), upserted(2), completed("w", 1, NOW, [(1, 1.0, 1)]))
    assert reads.positions(conn) == {(EX, 0): 2, (WO, 0): 1}


def test_a_record_that_fails_to_apply_is_dead_lettered_alone(conn):
    """A handler error on one record: the batch is redone record by record, that record
    goes to the dead letters, the others are applied, the offsets advance."""
    conn.execute(
        "CREATE TRIGGER boom BEFORE INSERT ON workouts "
        "BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    feed = Feed(conn)
    records = [
        feed.record(EX, b"1", value_of(upserted(1))),
        feed.record(WO, b"7", value_of(completed("w", 7, NOW, [(1, 1.0, 1)]))),
    ]
    result = commit_records(conn, records, roles=ROLES, ctx=CTX)
    # The failing record alone became a dead letter; the upsert before it was kept.
    assert result.dead_letters == 1 and catalog_names(conn) == {1: "Exercise 1"}
    assert reads.positions(conn) == {(EX, 0): 1, (WO, 0): 1}


def test_an_io_error_advances_nothing(conn, monkeypatch):
    """An OperationalError (disk full, read-only file) propagates: no rows, no offsets."""
    import store.writes

    def disk_full(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store.writes, "add_workouts", disk_full)
    feed = Feed(conn)
    with pytest.raises(sqlite3.OperationalError):
        feed.events(upserted(1), completed("w", 7, NOW, [(1, 1.0, 1)]))
    assert reads.positions(conn) == {} and catalog_names(conn) == {}


def test_migrations_are_idempotent(db_path):
    """Opening the file again (another process) does not migrate twice."""
    connect(db_path).close()
    conn = connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


# -- hardening (issue 13): keys, and a projection that is a function of the topics alone ------


@pytest.mark.parametrize(
    "key",
    [
        "\u00b2".encode(),  # a superscript two: str.isdigit() says yes, int() raises
        "\u0667".encode(),  # an Arabic-Indic seven: int() reads it as 7
        b"007",  # a leading zero: compaction keeps it apart from "7"
        b"0",
        b"9" * 5000,
        b"9223372036854775808",  # 2**63: one past the largest id
        b"+7",
        b" 7",
    ],
)
def test_hostile_tombstone_key_is_a_dead_letter_and_deletes_nothing(feed, conn, key):
    feed.events(upserted(7))
    result = feed.raw(EX, key, None)
    assert result.dead_letters == 1
    assert set(catalog_names(conn)) == {7}
    feed.events(upserted(8))  # the partition moves on
    assert set(catalog_names(conn)) == {7, 8}
    assert reads.positions(conn)[(EX, 0)] == 3


def test_muscle_group_names_are_each_exercises_own(feed, conn):
    """Two exercises naming one muscle group differently each keep their own name: a shared
    row named by whichever came last would depend on the order across partitions."""
    a = upserted(1)
    a["data"]["muscle_groups"][0]["name"] = "Quads"
    b = upserted(2)
    b["data"]["muscle_groups"][0]["name"] = "Quadriceps"
    feed.events(a, b)
    names = {e.id: e.muscle_groups[0]["name"] for e in reads.load_catalog(conn)}
    assert names == {1: "Quads", 2: "Quadriceps"}


def test_a_deleted_workouts_marker_carries_the_delete_records_time_not_the_clock(conn):
    at = NOW - timedelta(hours=3)
    record = Record(WO, 0, 0, b"7", value_of(workout_deleted("w1", 7)), to_us(at) // 1000)
    later = Context(now_us=to_us(NOW + timedelta(days=3)))  # a replay, three days on
    commit_records(conn, [record], roles=ROLES, ctx=later)
    marker = conn.execute("SELECT deleted, deleted_at_us FROM workouts").fetchone()
    assert marker == (1, to_us(at))


def test_deleting_a_folded_workout_brings_the_one_before_back(feed, conn):
    """The same answer as when the delete comes before the fold (as in a replay)."""
    feed.events(
        completed("old", 7, NOW - timedelta(days=4), [(1, 50.0, 8)]),
        completed("new", 7, NOW - timedelta(days=3), [(1, 60.0, 5)]),
    )
    fold(conn)
    feed.events(workout_deleted("new", 7))
    perf = reads.performances(conn, user_id="7", exercise_ids=[1])[1]
    assert (perf.weight, perf.reps) == (50.0, 8)


def test_a_tie_on_completed_at_resolves_by_workout_id_before_and_after_the_fold(feed, conn):
    at = NOW - timedelta(days=3)
    feed.events(
        completed("b", 7, at, [(1, 60.0, 5)]),
        completed("a", 7, at, [(1, 50.0, 8)]),
    )
    before = reads.performances(conn, user_id="7", exercise_ids=[1])[1]
    fold(conn)
    after = reads.performances(conn, user_id="7", exercise_ids=[1])[1]
    assert before == after == Performance(60.0, 5)
