"""fitness.user.erased on a real SQLite file: every row of the user goes, their dead letters
are redacted, and no order of redelivered records brings anything of theirs back."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from config.settings import Settings
from consumer.commit import commit_records
from consumer.dead_letters import list_letters, retry
from consumer.fold_schedule import FoldSchedule
from consumer.handlers import Context
from consumer.records import Record
from store import dead_letters, erasure, fold, reads, writes
from store.checks import checksums
from store.db import connect, transaction
from store.instants import now_us
from store.rows import WorkoutRow
from tests.factories import (
    EX,
    WO,
    completed,
    key_of,
    upserted,
    user_erased,
    value_of,
    workout_deleted,
)

ROLES = {EX: "exercises", WO: "workouts"}
NOW = datetime.now(UTC).replace(microsecond=0)
NOW_US = int(NOW.timestamp() * 1_000_000)
HOUR = timedelta(hours=1)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def apply(conn: sqlite3.Connection, records: Sequence[Record], *, at_us: int = NOW_US) -> None:
    commit_records(conn, records, roles=ROLES, ctx=Context(now_us=at_us))


class Topic:
    """Records of one partition, offsets counted, each with a Kafka timestamp."""

    def __init__(self, topic: str, partition: int = 0) -> None:
        self.topic, self.partition, self.next = topic, partition, 0

    def record(self, event: dict | None, *, at: datetime, key: bytes | None = None) -> Record:  # type: ignore[type-arg]
        value = None if event is None else value_of(event)
        record = Record(
            self.topic,
            self.partition,
            self.next,
            key if key is not None or event is None else key_of(event),
            value,
            ms(at),
        )
        self.next += 1
        return record


def rows_naming(conn: sqlite3.Connection, user: str) -> dict[str, int]:
    """Every row of every table that holds the user's id in any column (keys and values of
    dead letters included), by table."""
    found = {}
    tables = [t for (t,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    for table in tables:
        if table == "erased_users":
            continue  # the erasure itself (docs/PRIVACY.md)
        columns = [c[1] for c in conn.execute(f"PRAGMA table_info({table})")]
        where = " OR ".join(
            f"""(CAST("{c}" AS TEXT) = ?1 OR instr(CAST("{c}" AS BLOB), CAST(?2 AS BLOB)) > 0)"""
            for c in columns
        )
        n = conn.execute(
            f"SELECT count(*) FROM {table} WHERE {where}", (user, f'"{user}"'.encode())
        ).fetchone()[0]
        if n:
            found[table] = n
    return found


@pytest.fixture
def conn(db_path: Path) -> sqlite3.Connection:
    c = connect(db_path)
    yield c  # type: ignore[misc]
    c.close()


def test_an_erased_user_leaves_no_row_and_their_dead_letters_are_redacted(conn):
    ex, wo = Topic(EX), Topic(WO)
    user, other = "user-1f6e", "user-9c2b"
    apply(conn, [ex.record(upserted(e), at=NOW - 60 * HOUR) for e in (1, 2, 3)])
    apply(
        conn,
        [
            # folded into performances below, then one in the window, one deleted
            wo.record(completed("w-old", user, NOW - 60 * HOUR, [(1, 50.0, 5)]), at=NOW),
            wo.record(completed("w-old-2", other, NOW - 60 * HOUR, [(1, 70.0, 5)]), at=NOW),
            wo.record(completed("w-new", user, NOW - 2 * HOUR, [(2, 20.0, 8)]), at=NOW),
            wo.record(completed("w-gone", user, NOW - 3 * HOUR, [(3, 10.0, 8)]), at=NOW),
            wo.record(workout_deleted("w-gone", user), at=NOW),
            wo.record(workout_deleted("w-never-seen", user), at=NOW),  # a bare marker
            # dead letters: keyed by the user, and their workout misrouted to the catalog
            Record(WO, 0, 100, user.encode(), b"{broken json", ms(NOW)),
            Record(WO, 0, 101, b"not-the-user", value_of(completed("w-x", user, NOW, [])), 1),
            Record(WO, 0, 102, b"user-9c2b", b"{also broken", ms(NOW)),
        ],
    )
    apply(
        conn,
        [Record(EX, 0, 50, b"1", value_of(completed("w-y", user, NOW, [(1, 1.0, 1)])), ms(NOW))],
    )
    with transaction(conn):
        fold.fold_and_prune(conn, before_us=NOW_US - 50 * 3_600_000_000)
    assert set(rows_naming(conn, user)) == {
        "workouts",
        "performances",
        "dead_letters",
        "dead_letter_users",
    }
    before_letters = {(d.topic, d.offset): d for d in dead_letters.oldest(conn)}

    apply(conn, [Record(WO, 0, 103, user.encode(), value_of(user_erased(user, at=NOW)), ms(NOW))])

    assert rows_naming(conn, user) == {}
    letters = {(d.topic, d.offset): d for d in dead_letters.oldest(conn)}
    assert letters.keys() == before_letters.keys()  # each keeps its place ...
    for where in [(WO, 100), (WO, 101), (EX, 50)]:
        letter = letters[where]
        assert (letter.key, letter.value) == (None, None), where  # ... without key and value
        assert letter.redacted_at_us == NOW_US
        assert letter.error == before_letters[where].error  # and with its reason
    assert letters[(WO, 102)] == before_letters[(WO, 102)]  # another user's is untouched
    # the other user keeps everything
    assert reads.performances(conn, user_id=other, exercise_ids=[1], recent=None)[1].weight == 70
    assert conn.execute("SELECT user_id, erased_at_us FROM erased_users").fetchall() == [
        (user, NOW_US)
    ]
    listed = {(d["topic"], d["offset"]): d for d in list_letters(conn)}
    assert listed[(WO, 100)]["redacted_at"] is not None
    assert listed[(WO, 102)]["redacted_at"] is None
    # a redacted letter has nothing to apply: retry leaves it
    result = retry(conn, roles=ROLES)
    assert result.redacted == 3
    assert len(dead_letters.oldest(conn)) == 4


def test_workouts_completed_before_the_erasure_stay_out_whenever_they_arrive(conn):
    wo = Topic(WO)
    user = "u-42"
    erased_at = NOW - HOUR
    apply(
        conn,
        [
            wo.record(completed("w1", user, NOW - 5 * HOUR, [(1, 50.0, 5)]), at=NOW - 4 * HOUR),
            wo.record(user_erased(user, at=erased_at), at=erased_at),
            # redelivered after the erasure: the same workout, and one not seen before
            wo.record(completed("w1", user, NOW - 5 * HOUR, [(1, 50.0, 5)]), at=NOW),
            wo.record(completed("w0", user, NOW - 30 * HOUR, [(2, 5.0, 5)]), at=NOW),
            # at the erasure's very instant: before it, for this rule
            wo.record(completed("w-at", user, erased_at, [(2, 5.0, 5)]), at=NOW),
            # a workout completed after the erasure (a new account with the same id) is kept
            wo.record(completed("w2", user, NOW - HOUR / 2, [(3, 30.0, 5)]), at=NOW),
        ],
    )
    ids = [w for (w,) in conn.execute("SELECT workout_id FROM workouts WHERE user_id = ?", (user,))]
    assert ids == ["w2"]
    with transaction(conn):
        fold.fold_and_prune(conn, before_us=NOW_US)  # the late ones would fold in here
    assert conn.execute(
        "SELECT workout_id FROM performances WHERE user_id = ?", (user,)
    ).fetchall() == [("w2",)]


def test_a_dead_letter_of_a_user_erased_before_it_is_stored_redacted(conn):
    apply(conn, [Record(WO, 0, 0, b"u-7", value_of(user_erased("u-7")), ms(NOW))])
    apply(conn, [Record(WO, 1, 0, b"u-7", b'{"data": {"user_id": "u-7"}, "oops"', ms(NOW))])
    [letter] = dead_letters.oldest(conn)
    assert (letter.key, letter.value, letter.redacted_at_us) == (None, None, NOW_US)


def test_an_erasure_with_nothing_to_erase_is_remembered_once():
    """The erasure of a user coach never saw still keeps their later-redelivered workouts
    out; erasing again with an older record changes nothing."""
    c = sqlite3.connect(":memory:")
    from store.migrations import migrate

    migrate(c)
    with transaction(c):
        assert erasure.erase_user(c, user_id="u", erased_at_us=10, now_us=99)
        assert not erasure.erase_user(c, user_id="u", erased_at_us=5, now_us=99)
        assert erasure.erase_user(c, user_id="u", erased_at_us=20, now_us=99)
    assert c.execute("SELECT erased_at_us, seq FROM erased_users").fetchall() == [(20, 2)]
    assert erasure.erased_since(c, seq=1) == ["u"]
    assert erasure.erased_since(c, seq=2) == []


def _history(seed: int) -> tuple[list[Record], list[Record]]:
    """Two partitions of workouts of three users, with erasures, deletes, redeliveries and a
    dead letter; timestamps rising within each partition."""
    rng = random.Random(seed)
    parts = [Topic(WO, 0), Topic(WO, 1)]
    out: list[list[Record]] = [[], []]
    users = ["a", "b", "c"]
    at = NOW - 70 * HOUR
    sent: list[tuple[str, str, dict]] = []  # type: ignore[type-arg]
    for i in range(60):
        at += HOUR
        user = rng.choice(users)
        p = users.index(user) % 2  # a user's records stay in one partition (the key)
        kind = rng.random()
        if kind < 0.6 or not sent:
            done = at - rng.randrange(0, 60) * HOUR / 2
            event = completed(f"w{i}", user, done, [(rng.randrange(1, 5), 10.0 + i, 5)])
            sent.append((user, f"w{i}", event))
        elif kind < 0.7:
            u, _, event = rng.choice(sent)  # redelivered as it was
            p = users.index(u) % 2
        elif kind < 0.8:
            u, w, _ = rng.choice(sent)
            event, p = workout_deleted(w, u), users.index(u) % 2
        elif kind < 0.9:
            event = user_erased(user, at=at)
        else:  # a broken record naming the user, in either partition (a producer's bug)
            p = rng.randrange(2)
            out[p].append(Record(WO, p, parts[p].next, user.encode(), b"{x", ms(at)))
            parts[p].next += 1
            continue
        out[p].append(parts[p].record(event, at=at))
    return out[0], out[1]


def _project(path: Path, records: list[Record], fold_at: set[int]) -> dict:  # type: ignore[type-arg]
    c = connect(path)
    try:
        for i, record in enumerate(records):
            apply(c, [record])
            if i in fold_at:
                fold.fold_all(c, before_us=NOW_US - 50 * 3_600_000_000)
        fold.fold_all(c, before_us=NOW_US - 50 * 3_600_000_000)
        return checksums(c)
    finally:
        c.close()


@pytest.mark.parametrize("seed", range(8))
def test_any_interleaving_of_the_partitions_and_any_fold_times_give_the_same_rows(tmp_path, seed):
    """The live consumer and a replay read two partitions in different orders and fold at
    different times; with erasures among the records, they must still end equal."""
    p0, p1 = _history(seed)
    rng = random.Random(seed)
    results = []
    for run in range(4):
        merged, a, b = [], list(p0), list(p1)
        while a or b:
            source = a if (a and (not b or rng.random() < 0.5)) else b
            merged.append(source.pop(0))
        folds = {rng.randrange(len(merged)) for _ in range(3)} if run else set()
        results.append(_project(tmp_path / f"run{run}.db", merged, folds))
    assert all(r == results[0] for r in results[1:])
    assert results[0]["erased_users"].rows > 0


def test_dead_letters_past_their_days_are_removed_by_the_consumers_schedule(settings, conn):
    days = settings.dead_letter_days
    apply(
        conn,
        [
            Record(WO, 0, 0, b"u", b"{old", ms(NOW - timedelta(days=days, hours=1))),
            Record(WO, 0, 1, b"u", b"{recent", ms(NOW - timedelta(days=days - 1))),
            Record(WO, 0, 2, b"u", b"{no timestamp", None),
        ],
    )
    FoldSchedule(settings).run_if_due(conn, now=0.0)
    assert [d.offset for d in dead_letters.oldest(conn)] == [1, 2]


def test_a_reason_written_by_an_earlier_coach_loses_the_erased_users_id(conn):
    with transaction(conn):
        dead_letters.add_dead_letter(
            conn,
            topic=WO,
            partition=0,
            offset=0,
            key=b"u-3",
            value=b"{}",
            error="record key 'u-3' does not match the event's entity 'u-4'",
            failed_at_us=NOW_US,
        )
    apply(conn, [Record(WO, 0, 1, b"u-3", value_of(user_erased("u-3")), ms(NOW))])
    [letter] = dead_letters.oldest(conn)
    assert letter.error == "record key '<erased>' does not match the event's entity 'u-4'"


def test_settings_refuse_a_dead_letter_days_of_zero():
    with pytest.raises(ValueError, match="dead_letter_days"):
        Settings(dead_letter_days=0)


def test_a_user_erased_twice_in_one_batch_and_redelivered_in_the_next_stays_erased(conn):
    wo = Topic(WO)
    batch = [
        wo.record(completed("w1", "u", NOW - 2 * HOUR, [(1, 5.0, 5)]), at=NOW - HOUR),
        wo.record(user_erased("u"), at=NOW - HOUR),
        wo.record(completed("w2", "u", NOW - 3 * HOUR, [(1, 5.0, 5)]), at=NOW - HOUR),
        wo.record(user_erased("u"), at=NOW),
    ]
    apply(conn, batch)
    apply(conn, [wo.record(completed("w1", "u", NOW - 2 * HOUR, [(1, 5.0, 5)]), at=NOW)])
    assert rows_naming(conn, "u") == {}
    assert now_us() >= NOW_US


def test_an_api_process_drops_the_erased_users_held_wod_and_cached_tokens(project, api):
    """Before the erasure the user's held WOD carries their own suggestions and their token
    is cached; after it, with the next status read, both are gone and the WOD is a new
    user's (the catalog defaults)."""
    from tests.integration.conftest import make_token

    five_days_ago = NOW - timedelta(days=5)
    project([upserted(i, weight=20.0, reps=10) for i in range(1, 7)])
    project([completed("w1", "7", five_days_ago, [(e, 80.0, 5) for e in range(1, 7)])])
    project([completed("w2", "8", five_days_ago, [(e, 90.0, 5) for e in range(1, 7)])])
    token, other = make_token("7"), make_token("8")
    with api() as client:
        state = client.app.state.coach  # type: ignore[attr-defined]

        def suggested(t: str) -> set[float]:
            body = client.get("/fitness/wod", headers={"Authorization": f"Bearer {t}"}).json()
            return {e["suggested_weight"] for e in body["exercises"]}

        assert suggested(token) != {20.0}  # their own history
        assert suggested(other) != {20.0}
        assert {"7", "8"} <= set(state.wods._entries)
        cached = {v[0] for v in state.verifier._entries.values()}  # (user id, zoneinfo, exp)
        assert cached == {"7", "8"}

        project([user_erased("7")])
        client.get("/health")  # (no status read: nothing dropped yet)
        assert "7" in state.wods._entries
        assert suggested(other) != {20.0}  # any WOD request reads the status ...
        assert "7" not in state.wods._entries  # ... and drops what was held of user 7
        assert {v[0] for v in state.verifier._entries.values()} == {"8"}
        assert "8" in state.wods._entries  # and nothing of anyone else
        assert suggested(token) == {20.0}  # a new user's WOD: the catalog defaults


def test_erasures_reach_the_backups_a_replay_kept(db_path, caplog):
    """Earlier generations and backups beside the live file are projections too: the
    consumer's schedule applies every erasure they lack, and names a file it cannot open."""
    from consumer.backups import BackupEraser

    wo = Topic(WO)
    history = [
        wo.record(completed("w1", "u-1", NOW - 5 * HOUR, [(1, 5.0, 5)]), at=NOW),
        wo.record(completed("w2", "u-2", NOW - 5 * HOUR, [(1, 5.0, 5)]), at=NOW),
    ]
    backup = db_path.with_name(db_path.name + ".20261130T000000000000Z.backup")
    earlier = db_path.with_name(db_path.name + ".20261129T000000000000Z")
    for path in (backup, earlier, db_path):
        c = connect(path)
        apply(c, history)
        c.close()
    damaged = db_path.with_name(db_path.name + ".20261128T000000000000Z")  # named as coach does
    damaged.write_bytes(b"not a database, at all" * 100)
    live = connect(db_path)
    apply(live, [wo.record(user_erased("u-1"), at=NOW)])
    eraser = BackupEraser(db_path)

    assert eraser.run(live, NOW_US) == 2
    for path in (backup, earlier):
        c = connect(path)
        assert rows_naming(c, "u-1") == {}, path
        assert "workouts" in rows_naming(c, "u-2")
        c.close()
    assert "could not apply erasures to" in caplog.text and damaged.name in caplog.text
    # Nothing new: the next pass opens nothing (and logs nothing).
    caplog.clear()
    assert eraser.run(live, NOW_US) == 0
    assert "could not apply" not in caplog.text
    live.close()


def test_the_writers_copy_of_the_erased_users_follows_rollbacks(conn):
    """add_workouts filters against a copy of erased_users kept per connection: an erasure
    rolled back must not keep filtering, and one committed after it must."""
    old = [Record(WO, 0, 0, b"u-1", value_of(completed("w1", "u-1", NOW - HOUR, [(1, 5.0, 5)])))]
    with pytest.raises(RuntimeError), transaction(conn):
        erasure.erase_user(conn, user_id="u-1", erased_at_us=NOW_US, now_us=NOW_US)
        # the copy is read inside this transaction, and filters
        assert writes.add_workouts(conn, workouts=[WorkoutRow("u-1", "x", 1, b"[]", 0)]) == 0
        raise RuntimeError("rolled back")
    apply(conn, old)
    assert reads.stats(conn)["workouts"] == 1  # u-1 is not erased after all
    apply(conn, [Record(WO, 0, 1, b"u-2", value_of(user_erased("u-2")), ms(NOW))])
    apply(
        conn,
        [Record(WO, 0, 2, b"u-2", value_of(completed("w2", "u-2", NOW - HOUR, [(1, 5.0, 5)])))],
    )
    assert reads.stats(conn)["workouts"] == 1  # u-2's older workout stays out


@pytest.mark.parametrize("seed", range(3))
def test_with_very_many_erased_users_the_check_moves_to_sql_and_agrees(tmp_path, seed, monkeypatch):
    monkeypatch.setattr(erasure, "MAX_HELD", 1)
    p0, p1 = _history(seed)
    in_sql = _project(tmp_path / "sql.db", p0 + p1, set())
    monkeypatch.setattr(erasure, "MAX_HELD", 10**6)
    in_python = _project(tmp_path / "python.db", p0 + p1, set())
    assert in_sql == in_python and in_sql["erased_users"].rows > 1


def _workout_ids(c: sqlite3.Connection, user: str) -> list[str]:
    return [
        w
        for (w,) in c.execute(
            "SELECT workout_id FROM workouts WHERE user_id = ? ORDER BY workout_id", (user,)
        )
    ]


def test_a_workout_after_the_erasure_is_kept_whether_it_comes_before_or_after_it(tmp_path):
    """One predicate on both sides: the erasure does not remove what it would not keep out."""
    erased_at = NOW - 2 * HOUR
    later = completed("w-new", "u", NOW - HOUR, [(1, 5.0, 5)])  # a new account, same id
    earlier = completed("w-old", "u", NOW - 3 * HOUR, [(1, 5.0, 5)])
    erasure_event = user_erased("u", at=erased_at)
    orders = {
        "workouts first": [earlier, later, erasure_event],
        "erasure first": [erasure_event, earlier, later],
        "workout, erasure, workout again": [later, erasure_event, later, earlier],
    }
    for name, events in orders.items():
        c = connect(tmp_path / f"{name}.db")
        wo = Topic(WO)
        apply(c, [wo.record(e, at=NOW) for e in events])
        assert _workout_ids(c, "u") == ["w-new"], name
        c.close()


def test_the_same_erasure_delivered_twice_keeps_what_the_first_kept(conn):
    wo = Topic(WO)
    erasure_event = user_erased("u", at=NOW - 2 * HOUR)
    apply(conn, [wo.record(erasure_event, at=NOW - 2 * HOUR)])
    apply(conn, [wo.record(completed("w-new", "u", NOW - HOUR, [(1, 5.0, 5)]), at=NOW - HOUR)])
    with transaction(conn):
        fold.fold_and_prune(conn, before_us=NOW_US)  # into performances too
    apply(conn, [wo.record(completed("w-2", "u", NOW - HOUR, [(2, 5.0, 5)]), at=NOW)])
    apply(conn, [wo.record(erasure_event, at=NOW)])  # redelivered (Debezium: at least once)
    assert _workout_ids(conn, "u") == ["w-2"]
    assert conn.execute("SELECT workout_id FROM performances WHERE user_id = 'u'").fetchall() == [
        ("w-new",)
    ]


def test_the_erasures_instant_is_its_own_time_not_the_relays_timestamp(conn):
    """Debezium stamps the record when it relays it, maybe an hour later: a workout the id's
    new account completed in between is after the erasure."""
    wo = Topic(WO)
    erased_at = NOW - 2 * HOUR
    apply(
        conn,
        [
            wo.record(completed("w-before", "u", erased_at - HOUR, [(1, 5.0, 5)]), at=NOW),
            wo.record(user_erased("u", at=erased_at), at=NOW),  # relayed two hours late
            wo.record(completed("w-between", "u", erased_at + HOUR, [(1, 5.0, 5)]), at=NOW),
        ],
    )
    assert _workout_ids(conn, "u") == ["w-between"]
    [(at,)] = conn.execute("SELECT erased_at_us FROM erased_users").fetchall()
    assert at == int(erased_at.timestamp() * 1_000_000)


def test_a_deleted_marker_ends_the_same_whether_the_delete_comes_before_the_erasure(tmp_path):
    """A workout completed before the erasure and deleted after it leaves the same bare
    marker in every order; deleted before it, none."""
    erased_at = NOW - 2 * HOUR
    w1 = completed("w1", "u", NOW - 5 * HOUR, [(1, 5.0, 5)])
    w2 = completed("w2", "u", NOW - 6 * HOUR, [(1, 5.0, 5)])
    e = user_erased("u", at=erased_at)
    results = []
    for run, order in enumerate(
        [
            [
                (w1, 0),
                (w2, 0),
                (workout_deleted("w1", "u"), 1),
                (workout_deleted("w2", "u"), 3),
                (e, 0),
            ],
            [
                (w1, 0),
                (e, 0),
                (w2, 0),
                (workout_deleted("w2", "u"), 3),
                (workout_deleted("w1", "u"), 1),
            ],
            [
                (workout_deleted("w1", "u"), 1),
                (e, 0),
                (workout_deleted("w2", "u"), 3),
                (w1, 0),
                (w2, 0),
            ],
        ]
    ):
        c = connect(tmp_path / f"{run}.db")
        wo = Topic(WO)
        # deleted 1 h after the erasure (w1) or 1 h before it (w2)
        for event, hours_ago in order:
            apply(c, [wo.record(event, at=NOW - hours_ago * HOUR)])
        results.append(
            c.execute(
                """SELECT workout_id, completed_at_us, exercises, deleted, deleted_at_us
                   FROM workouts ORDER BY workout_id"""
            ).fetchall()
        )
        c.close()
    assert results[0] == results[1] == results[2]
    assert [r[0] for r in results[0]] == ["w1"]


def test_an_erasure_keyed_by_another_key_is_applied_and_alerted(conn, caplog):
    """A producer's bug must not keep a user's data: the erasure applies, is counted for the
    alert (coach_erasure_key_mismatches), is logged at ERROR (without the key), and is not a
    dead letter."""
    wo = Topic(WO)
    apply(conn, [wo.record(completed("w1", "u-5", NOW - HOUR, [(1, 5.0, 5)]), at=NOW)])
    apply(conn, [wo.record(user_erased("u-5", at=NOW), at=NOW, key=b"not-the-user")])
    assert rows_naming(conn, "u-5") == {}
    assert dead_letters.oldest(conn) == []
    counter = "SELECT value FROM meta WHERE name = 'erasure_key_mismatches'"
    assert conn.execute(counter).fetchone() == (1,)
    [line] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "record key is not its user id" in line.getMessage()
    assert "not-the-user" not in line.getMessage() and "u-5" not in line.getMessage()
    # the line docs/RUNBOOK.md (CoachErasureKeyMismatch) quotes: it names the record
    assert line.getMessage() == (
        f"erasure {WO}/0@1: its record key is not its user id (a producer's bug); applied "
        "all the same. Fix the producer: an erasure in another partition than the user's "
        "workouts may be read before them"
    )


def test_an_erasure_dead_lettered_by_an_older_coach_applies_on_retry(conn):
    """Older coaches dead-lettered an erasure with a wrong key; `dead-letters retry` now
    applies it and removes the letter."""
    apply(conn, [Topic(WO).record(completed("w1", "u-6", NOW - HOUR, [(1, 5.0, 5)]), at=NOW)])
    with transaction(conn):
        dead_letters.add_dead_letter(
            conn,
            topic=WO,
            partition=0,
            offset=7,
            key=b"wrong",
            value=value_of(user_erased("u-6", at=NOW)),
            error="record key (a key of 5 characters) does not match the event's data.user_id",
            failed_at_us=NOW_US,
            timestamp_ms=ms(NOW),
        )
    assert retry(conn, roles=ROLES).applied == 1
    assert rows_naming(conn, "u-6") == {}


def _letter(conn: sqlite3.Connection, offset: int, key: bytes | None, value: bytes, **kw) -> None:  # type: ignore[no-untyped-def]
    with transaction(conn):
        dead_letters.add_dead_letter(
            conn,
            topic=EX,
            partition=0,
            offset=offset,
            key=key,
            value=value,
            error="fitness.workout.completed does not belong on the exercises topic",
            failed_at_us=NOW_US,
            timestamp_ms=ms(NOW),
            **kw,
        )


def test_dead_letters_stored_before_the_erasure_are_redacted_however_they_name_the_user(conn):
    """An id JSON-escaped in the value, in data_base64, in the subject or in a ce_subject
    header: found as events/personal.py finds it, not by searching the raw bytes."""
    import base64

    user = "jörg"
    escaped = b'{"specversion":"1.0","type":"x","data":{"user_id":"j\\u00f6rg"}}'
    assert user.encode() not in escaped
    in_base64 = orjson.dumps(
        {"type": "x", "data_base64": base64.b64encode(orjson.dumps({"user_id": user})).decode()}
    )
    _letter(conn, 0, b"1", escaped)
    _letter(conn, 1, b"2", in_base64)
    _letter(conn, 2, b"3", b'{"type": "x", "subject": "j\\u00f6rg"}')
    _letter(conn, 3, b"4", b"{broken", headers=[("ce_subject", user.encode())])
    _letter(conn, 4, b"5", b'{"data": {"user_id": "someone-else"}}')
    apply(conn, [Topic(WO).record(user_erased(user, at=NOW), at=NOW)])
    redacted = {d.offset for d in dead_letters.oldest(conn) if d.redacted_at_us is not None}
    assert redacted == {0, 1, 2, 3}
    assert rows_naming(conn, user) == {}
    assert rows_naming(conn, "j\\u00f6rg") == {}


def test_dead_letters_stored_by_a_coach_before_the_index_are_found_after_its_migration(
    tmp_path,
):
    """A file at schema 6 holds a letter naming the user in an escaped form; opened by this
    coach (migrated), an erasure redacts it."""
    from store.migrations import MIGRATIONS

    path = tmp_path / "old.db"
    old = sqlite3.connect(path, isolation_level=None)
    for step in MIGRATIONS[:6]:
        step(old)
    old.execute("PRAGMA user_version = 6")
    old.execute(
        """INSERT INTO dead_letters (topic, partition, "offset", key, value, error,
                                      failed_at_us, timestamp_ms)
           VALUES (?, 0, 0, ?, ?, 'broken', ?, ?)""",
        (EX, b"1", b'{"data":{"user_id":"j\\u00f6rg"}}', NOW_US, ms(NOW)),
    )
    old.close()
    c = connect(path)
    apply(c, [Topic(WO).record(user_erased("jörg", at=NOW), at=NOW)])
    [letter] = dead_letters.oldest(c)
    assert (letter.key, letter.value, letter.redacted_at_us) == (None, None, NOW_US)
    c.close()


def test_coach_erasure_status_shows_what_is_held_of_a_user(settings, db_path):
    """Before the erasure: not erased, exit 1; after it: erased, nothing before it held,
    a new account's later workout counted apart, no dead letter naming them; exit 0."""
    import json

    from click.testing import CliRunner

    from coach.cli import main
    from tests.conftest import env_of

    def status(user: str) -> tuple[int, dict]:  # type: ignore[type-arg]
        out = CliRunner().invoke(main, ["erasure", "status", user], env=env_of(settings))
        return out.exit_code, json.loads(out.output.strip().splitlines()[-1])

    c = connect(db_path)
    wo = Topic(WO)
    apply(c, [wo.record(completed("w1", "u-8", NOW - 3 * HOUR, [(1, 5.0, 5)]), at=NOW)])
    _letter(c, 0, b"u-8", b"{broken")
    code, before = status("u-8")
    assert code == 1
    assert before["erased"] is False and before["rows_after_erasure"] == 1
    assert before["dead_letters_naming"] == 1
    apply(c, [wo.record(user_erased("u-8", at=NOW - 2 * HOUR), at=NOW)])
    apply(c, [wo.record(completed("w2", "u-8", NOW - HOUR, [(1, 5.0, 5)]), at=NOW)])
    c.close()
    code, after = status("u-8")
    assert code == 0, after
    assert after == {
        "user_id": "u-8",
        "erased": True,
        "erased_at": (NOW - 2 * HOUR).isoformat(),
        "rows_at_or_before_erasure": 0,
        "rows_after_erasure": 1,
        "dead_letters_naming": 0,
        "ok": True,
    }
