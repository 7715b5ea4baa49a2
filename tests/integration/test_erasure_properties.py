"""Property: a projection rebuilt from the topics after the broker forgot what it may forget
gives the live projection's answers (docs/PRIVACY.md, "What Kafka keeps").

A history of the monolith is drawn: workouts completed, deleted, published again by a
backfill, delivered twice (Debezium is at least once), users erased (some erasures keyed
wrongly on the workouts topic), catalog entries upserted, deleted, tombstoned and created
again (their revision only grows per id). Each event goes where the monolith's outbox sends
it: the catalog to the compacted exercises topic, workouts to the workouts topic, an
erasure to the compacted erasures topic and to the workouts topic.

The live projection applies the records in a drawn delivery order (each topic in offset
order, the topics interleaved at random), folding at random moments. The broker then
forgets: time retention drops the oldest workouts-topic records (as far as a drawn cut,
while they are records whose effect an erasure removed: nothing else may be gone from a
topic that the projection still needs, as the retention rule of docs/PRIVACY.md requires),
and compaction keeps the last record of every key of the compacted topics (and drops
tombstones, their lifetime over). A replay reads what is left, the erasures first, the rest
in another drawn interleaving, and folds. Both must hold the same catalog, workouts,
performances and erasures (table by table, stamps aside), and answer the same WOD
exclusions and suggestions for every user.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from events import (
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    USER_ERASED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    encode_event,
)
from events.codec import Role
from store import fold, reads
from store.db import connect
from wod.instants import to_us

EX, WO, ER = "q.exercises", "q.workouts", "q.erasures"
ROLES: dict[str, Role] = {EX: "exercises", WO: "workouts", ER: "erasures"}
COMPACTED = (EX, ER)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOW_US = to_us(NOW)
START = NOW - timedelta(hours=48)  # records' Kafka timestamps: the last two days
CUTOFF_US = to_us(NOW - timedelta(hours=50))  # COACH_HISTORY_HOURS
USERS = ("1", "2", "3")
EXERCISE_IDS = (1, 2, 3)
WINDOWS = (
    (to_us(NOW - timedelta(hours=48)), to_us(NOW - timedelta(hours=24))),
    (to_us(NOW - timedelta(hours=24)), NOW_US),
    (to_us(NOW - timedelta(days=11)), to_us(NOW + timedelta(hours=1))),
)

USER = st.sampled_from(USERS)
EXERCISE = st.sampled_from(EXERCISE_IDS)
ACTION = st.one_of(
    st.tuples(
        st.just("workout"),
        USER,
        st.integers(0, 60 * 60),  # completed this many minutes before it is published
        st.lists(st.tuples(EXERCISE, st.sampled_from((5.0, 20.0, 60.0))), min_size=1, max_size=2),
    ),
    st.tuples(st.just("workout"), USER, st.just(0), st.just([(1, 30.0)])),
    st.tuples(st.just("delete"), st.integers(0, 30)),  # the n-th latest workout
    st.tuples(st.just("backfill"), st.integers(0, 30)),  # published again, a new event
    st.tuples(st.just("redeliver"), st.integers(0, 60)),  # the same record again
    st.tuples(st.just("erase"), USER, st.booleans()),  # wrongly keyed on the workouts topic
    st.tuples(st.just("upsert"), EXERCISE, st.integers(0, 2)),
    st.tuples(st.just("exercise_deleted"), EXERCISE, st.booleans()),  # then a tombstone
)


class Topics:
    """The records of the three topics (one partition each), built from the actions."""

    def __init__(self) -> None:
        self.log: dict[str, list[Record]] = {EX: [], WO: [], ER: []}
        self.completed: list[dict[str, Any]] = []  # `data` of each workout, in order
        self.revision = dict.fromkeys(EXERCISE_IDS, 0)
        self.erased_at: dict[str, int] = {}  # user -> latest erasure's instant (µs)
        self.serial = 0

    def send(self, topic: str, key: bytes | None, value: bytes | None, at: datetime) -> None:
        records = self.log[topic]
        records.append(Record(topic, 0, len(records), key, value, to_us(at) // 1000))

    def event(self, type_: str, data: dict[str, Any], at: datetime) -> bytes:
        self.serial += 1
        return orjson.dumps(encode_event(type_, data, event_id=f"e{self.serial}", time=at))

    def act(self, action: tuple[Any, ...], at: datetime) -> None:
        kind, *args = action
        if kind == "workout":
            user, minutes, entries = args
            data = {  # workout ids are unique (UUIDs in the monolith): sent again, the same
                "workout_id": f"w{len(self.completed)}",
                "user_id": user,
                "completed_at": (at - timedelta(minutes=minutes)).isoformat(),
                "exercises": [
                    {"exercise_id": e, "sets": 3, "reps": 8, "weight": kg} for e, kg in entries
                ],
            }
            self.completed.append(data)
            self.send(WO, user.encode(), self.event(WORKOUT_COMPLETED, data, at), at)
        elif kind in ("delete", "backfill") and self.completed:
            data = self.completed[-1 - args[0] % len(self.completed)]
            user = data["user_id"]
            if kind == "delete":
                data = {"workout_id": data["workout_id"], "user_id": user}
            value = self.event(WORKOUT_DELETED if kind == "delete" else WORKOUT_COMPLETED, data, at)
            self.send(WO, user.encode(), value, at)
        elif kind == "redeliver" and self.log[WO]:
            old = self.log[WO][-1 - args[0] % len(self.log[WO])]
            self.send(WO, old.key, old.value, at)
        elif kind == "erase":
            user, wrong_key = args
            value = self.event(USER_ERASED, {"user_id": user}, at)
            self.send(ER, user.encode(), value, at)
            self.send(WO, b"not-" + user.encode() if wrong_key else user.encode(), value, at)
            self.erased_at[user] = to_us(at)
        elif kind == "upsert":
            ex, variant = args
            self.revision[ex] += 1
            data = {
                "id": ex,
                "name": f"E{ex} v{variant} r{self.revision[ex]}",
                "difficulty": 1 + variant,
                "revision": self.revision[ex],
                "default_weight": 10.0 * variant,
                "default_reps": 5 + variant,
                "muscle_groups": [
                    {
                        "id": variant + 1,
                        "name": "G",
                        "body_part": "legs",
                        "is_primary": True,
                        "intensity": 0.5,
                    }
                ],
            }
            self.send(EX, str(ex).encode(), self.event(EXERCISE_UPSERTED, data, at), at)
        elif kind == "exercise_deleted":
            ex, tombstone = args
            self.revision[ex] += 1
            data = {"id": ex, "revision": self.revision[ex]}
            self.send(EX, str(ex).encode(), self.event(EXERCISE_DELETED, data, at), at)
            if tombstone:
                self.send(EX, str(ex).encode(), None, at)

    def moot(self, record: Record) -> bool:
        """Whether an erasure removed everything `record` could leave in a projection."""
        event = orjson.loads(record.value or b"null") or {}
        data = event.get("data") or {}
        erased = self.erased_at.get(str(data.get("user_id")))
        if event.get("type") == USER_ERASED:
            return True  # the erasures topic keeps it
        if erased is None:
            return False
        if event.get("type") == WORKOUT_COMPLETED:
            return to_us(datetime.fromisoformat(data["completed_at"])) <= erased
        return (record.timestamp or 0) * 1000 <= erased  # a delete: its bare marker's time

    def forgotten(self, cut: int, drop_tombstones: bool) -> dict[str, list[Record]]:
        """What the broker still holds after retention (up to `cut`, see the module's doc)
        and compaction."""
        workouts = self.log[WO]
        first = 0
        while first < min(cut, len(workouts)) and self.moot(workouts[first]):
            first += 1
        kept: dict[str, list[Record]] = {WO: workouts[first:]}
        for topic in COMPACTED:
            last = {r.key: r for r in self.log[topic]}
            kept[topic] = [
                r
                for r in self.log[topic]
                if last[r.key] is r and not (r.value is None and drop_tombstones)
            ]
        return kept


def interleave(logs: dict[str, list[Record]], order: Sequence[int]) -> Iterator[Record]:
    """Every record, each topic in offset order, the topics taken in the drawn `order`."""
    queues = {t: list(rs) for t, rs in logs.items()}
    topics = sorted(queues)
    for choice in order:
        live = [t for t in topics if queues[t]]
        if not live:
            return
        yield queues[live[choice % len(live)]].pop(0)
    for t in topics:
        yield from queues[t]


def apply(conn: Any, records: list[Record]) -> None:
    if records:
        commit_records(conn, records, roles=ROLES, ctx=Context(now_us=NOW_US))


def state(conn: Any) -> dict[str, Any]:
    """The projection's tables (stamps aside) and the api's answers for every user."""

    def rows(sql: str) -> list[tuple[Any, ...]]:
        return sorted(conn.execute(sql).fetchall())

    answers = {
        user: (
            [reads.done_between(conn, user_id=user, start_us=s, end_us=e) for s, e in WINDOWS],
            reads.performances(conn, user_id=user, exercise_ids=EXERCISE_IDS),
        )
        for user in USERS
    }
    return {
        "catalog": [asdict(e) for e in reads.load_catalog(conn)],
        "workouts": rows(
            """SELECT user_id, workout_id, completed_at_us, exercises, deleted, deleted_at_us
               FROM workouts"""
        ),
        "performances": rows(
            """SELECT user_id, exercise_id, workout_id, completed_at_us, sets, reps, weight,
                      deleted FROM performances"""
        ),
        "erased_users": rows("SELECT user_id, erased_at_us FROM erased_users"),
        "answers": answers,
    }


@pytest.mark.slow  # `make check` skips it
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    actions=st.lists(ACTION, max_size=40),
    live_order=st.lists(st.integers(0, 2), max_size=120),
    folds=st.lists(st.booleans(), max_size=120),
    batch=st.integers(1, 7),
    cut=st.integers(0, 120),
    drop_tombstones=st.booleans(),
    replay_order=st.lists(st.integers(0, 1), max_size=120),
)
def test_a_replay_after_retention_and_compaction_answers_as_the_live_projection(
    actions, live_order, folds, batch, cut, drop_tombstones, replay_order
):
    topics = Topics()
    step = timedelta(hours=48) / (len(actions) + 1)
    for i, action in enumerate(actions):
        topics.act(action, START + step * (i + 1))
    with tempfile.TemporaryDirectory() as tmp:
        live = connect(Path(tmp) / "live.db")
        delivered = list(interleave(topics.log, live_order))
        for n, start in enumerate(range(0, len(delivered), batch)):
            apply(live, delivered[start : start + batch])
            if n < len(folds) and folds[n]:
                fold.fold_all(live, before_us=CUTOFF_US)
        fold.fold_all(live, before_us=CUTOFF_US)

        kept = topics.forgotten(cut, drop_tombstones)
        rebuilt = connect(Path(tmp) / "rebuilt.db")
        apply(rebuilt, kept[ER])  # the erasures first, to their end
        rest = {t: rs for t, rs in kept.items() if t != ER}
        apply(rebuilt, list(interleave(rest, replay_order)))
        fold.fold_all(rebuilt, before_us=CUTOFF_US)

        expected, got = state(live), state(rebuilt)
        live.close()
        rebuilt.close()
    for table in expected:
        assert got[table] == expected[table], table
