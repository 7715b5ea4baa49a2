"""Property tests of the projection: any stream of records, in any batch split and with folds
in between, leaves the real SQLite projection in the state a plain-Python model of the event
contract (docs/projection.md and docs/events.md) predicts.

The model below is written from the contract, not from the code:
- catalog: an upsert or delete whose revision is lower than or equal to the one applied is
  stale; a delete before any upsert records its revision; a tombstone deletes what is there
  (and keeps the revision); each exercise names its muscle groups itself;
- workouts: one per (user_id, workout_id), counted once; a deleted one never counts again,
  whatever arrives later; workouts older than the window (50 h) are folded out of the
  history when the consumer folds, and a late (re)delivery of an old one sits in the
  history until the next fold;
- suggestions: among the user's three newest workouts holding the exercise (newest: the
  later completed_at, then the greater workout id), deleted ones included, the last entry
  of the newest one not deleted; else the defaults. The same whether a workout was deleted
  before or after it was folded: folding remembers the three newest entries of folded
  workouts per exercise, deleted ones marked;
- every record that cannot be decoded or validated is exactly one dead letter; an unknown
  type is counted and changes nothing else; each partition's next offset is stored; the
  catalog version changes whenever the live catalog does.

The whole projection is compared with the model after every batch and every fold. Workout
contents are fixed per (user, workout id); two workouts of a user may share a
`completed_at` (ties go to the greater workout id). Records carry NOW as their timestamp,
so deleted markers (stamped with it) outlive every fold.
"""

from __future__ import annotations

import logging
import sqlite3
import tempfile
import zlib
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from consumer.commit import commit_records
from consumer.handlers import Context
from consumer.records import Record
from events import (
    EXERCISE_DELETED,
    EXERCISE_UPSERTED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    encode_event,
)
from events.codec import Role
from store import reads
from store.db import connect, transaction
from store.fold import FOLD_CHUNK, fold_and_prune
from wod.instants import to_us

# hypothesis over whole projections (tens of seconds): `make check` skips them
pytestmark = pytest.mark.slow

EX, WO = "p.exercises", "p.workouts"
ROLES: dict[str, Role] = {EX: "exercises", WO: "workouts"}
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
NOW_US = to_us(NOW)
CUTOFF_US = to_us(NOW - timedelta(hours=50))  # COACH_HISTORY_HOURS
CTX = Context(now_us=NOW_US)

EXERCISE_IDS = (1, 2, 3, 4, 5)
USERS = ("1", "2", "3")
WORKOUT_IDS = ("w1", "w2", "w3", "w4", "w5", "w6")
ZONES = (
    UTC,
    timezone(timedelta(hours=1)),
    timezone(timedelta(hours=-5)),
    timezone(timedelta(hours=5, minutes=30)),
)
WINDOWS = (  # done_between windows: the day before, today, and everything in the table
    (to_us(NOW - timedelta(hours=48)), to_us(NOW - timedelta(hours=24))),
    (to_us(NOW - timedelta(hours=24)), NOW_US),
    (to_us(NOW - timedelta(days=11)), to_us(NOW + timedelta(hours=1))),
)

Pair = tuple[str, str]  # (user_id, workout_id)


# -- the stream -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Workout:
    at: datetime
    entries: tuple[tuple[int, float, int], ...]  # (exercise_id, weight, reps), in order

    @property
    def at_us(self) -> int:
        return to_us(self.at)


@dataclass(frozen=True, repr=False)
class Sent:
    """One record to send, with what it means to the model."""

    topic: str
    key: bytes | None
    value: bytes | None
    op: tuple[Any, ...]

    def __repr__(self) -> str:  # short, for hypothesis' falsifying examples
        kind, *args = self.op
        if kind == "upsert":
            data = args[0]
            what = f"id={data['id']} revision={data['revision']} name={data['name']!r}"
        elif kind == "completed":
            (user, workout_id), workout = args
            what = f"{user}/{workout_id} at={workout.at:%Y-%m-%d %H:%M:%S} {list(workout.entries)}"
        elif kind == "workout_deleted":
            what = "/".join(args[0])
        elif kind in ("poison", "unknown"):
            what = repr(self.value if self.value is None else self.value[:80])
        else:
            what = " ".join(map(str, args))
        return f"<{self.topic} key={self.key!r} {kind} {what}>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


@dataclass(frozen=True)
class Fold:
    limit: int


CUT = "cut"  # a batch boundary
Step = Sent | Fold | str

# What the records are made of, as plain data (so that hypothesis shrinks them well).
BOOL = st.booleans()
TOPIC = st.sampled_from((EX, WO))
EXERCISE_ID = st.sampled_from(EXERCISE_IDS)
REVISION = st.integers(0, 6)
USER = st.sampled_from(USERS)
WORKOUT_ID = st.sampled_from(WORKOUT_IDS)
EXERCISE_FIELDS = st.tuples(
    st.integers(0, 2),  # name variant
    st.integers(1, 5),  # difficulty
    st.sampled_from((0.0, 20.0, 42.5)),  # default_weight
    st.integers(1, 12),  # default_reps
    st.lists(  # muscle groups: ids, names and body parts collide across exercises
        st.tuples(
            st.integers(1, 3),
            st.sampled_from(("Quads", "Glutes")),
            st.sampled_from(("legs", "back")),
            BOOL,
            st.sampled_from((0.0, 0.5, 1.0)),
        ),
        max_size=3,
    ),
)
AGE_MINUTES = st.one_of(  # in the last 40 h, or 3 to 10 days old
    st.integers(0, 40 * 60), st.integers(3 * 1440, 10 * 1440)
)
ENTRIES = st.lists(  # (exercise_id, weight, reps)
    st.tuples(EXERCISE_ID, st.sampled_from((0.0, 2.5, 20.0, 60.0)), st.integers(1, 12)),
    min_size=1,
    max_size=3,
)
# A workout: a new one (user, workout id, age, entries), or the n-th latest one drawn so far
# (an int), so that deletes and republications hit workouts of the stream often.
WORKOUT = st.one_of(st.tuples(USER, WORKOUT_ID, AGE_MINUTES, ENTRIES), st.integers(0, 39))
WIRE_FORM = st.tuples(BOOL, st.sampled_from(ZONES), BOOL)  # user id as number, zone, "Z"

UPSERT = st.tuples(st.just("upsert"), EXERCISE_ID, REVISION, EXERCISE_FIELDS)
EXERCISE_DELETE = st.tuples(st.just("exercise_deleted"), EXERCISE_ID, REVISION)
TOMBSTONE = st.tuples(st.just("tombstone"), EXERCISE_ID)
COMPLETED = st.tuples(st.just("completed"), WORKOUT, WIRE_FORM)
WORKOUT_DELETE = st.tuples(
    st.just("workout_deleted"), st.one_of(st.tuples(USER, WORKOUT_ID), st.integers(0, 39)), BOOL
)
REDELIVER = st.tuples(st.just("redeliver"), st.integers(0, 39))  # an earlier record again
UNKNOWN = st.tuples(
    st.just("unknown"),
    st.sampled_from(
        (
            (EX, "fitness.exercise.renamed"),
            (EX, "com.example.other"),
            (WO, "fitness.workout.shared"),
            (WO, "com.example.other"),
        )
    ),
    EXERCISE_ID,
    USER,
)
POISON = st.tuples(
    st.just("poison"),
    st.one_of(
        st.tuples(st.just("binary"), TOPIC, st.none() | st.binary(max_size=4), st.binary()),
        st.tuples(
            st.just("text"),
            TOPIC,
            st.sampled_from(
                (b"{not json", b"", b"null", b"[]", b"42", b'"x"', b"{}", b'{"specversion":"1.0"}')
            ),
        ),
        st.tuples(st.just("difficulty"), EXERCISE_ID, EXERCISE_FIELDS),
        st.tuples(st.just("intensity"), EXERCISE_ID, EXERCISE_FIELDS),
        st.tuples(st.just("naive_completed_at"), WORKOUT, WIRE_FORM),
        st.tuples(st.just("exercise_key"), EXERCISE_ID, EXERCISE_FIELDS, BOOL),
        st.tuples(st.just("workout_key"), WORKOUT, WIRE_FORM, BOOL),
        st.tuples(st.just("wrong_topic"), EXERCISE_ID, USER, EXERCISE_FIELDS, BOOL),
        st.tuples(
            st.just("tombstone_key"), st.sampled_from((None, b"0", b"x", b"-1", b"1.0", b"\xff"))
        ),
        st.tuples(st.just("null_workout"), USER),
        st.tuples(st.just("envelope"), EXERCISE_ID, BOOL),
        st.tuples(st.just("key_not_utf8"), EXERCISE_ID),
        st.tuples(st.just("negative_revision"), EXERCISE_ID),
        st.tuples(st.just("empty_user")),
    ),
)
RECORD = st.one_of(
    UPSERT,
    UPSERT,
    EXERCISE_DELETE,
    TOMBSTONE,
    COMPLETED,
    COMPLETED,
    COMPLETED,
    WORKOUT_DELETE,
    WORKOUT_DELETE,
    REDELIVER,
    UNKNOWN,
    POISON,
)
WORKOUT_RECORD = st.one_of(COMPLETED, COMPLETED, WORKOUT_DELETE, REDELIVER)


def batches(
    record: st.SearchStrategy[tuple[Any, ...]],
) -> st.SearchStrategy[list[tuple[list[tuple[Any, ...]], int | None]]]:
    """Batches of records, each followed by a fold half the time (with a chunk size)."""
    return st.lists(
        st.tuples(
            st.lists(record, max_size=10),
            st.one_of(st.none(), st.sampled_from((FOLD_CHUNK, 1, 2))),
        ),
        max_size=10,
    )


class Builder:
    """Turns drawn operations into records: CloudEvents as the monolith publishes them."""

    def __init__(self) -> None:
        self.contents: dict[Pair, Workout] = {}
        self.sent: list[Sent] = []
        self.serial = 0

    def event(self, type_: str, data: dict[str, Any]) -> bytes:
        self.serial += 1
        return orjson.dumps(encode_event(type_, data, event_id=f"ev-{self.serial}", time=NOW))

    def pair(self, drawn: Pair | int) -> Pair:
        if isinstance(drawn, int):
            seen = list(self.contents)  # counted from the latest, so that shrinking holds
            return seen[-1 - drawn % len(seen)] if seen else ("1", "w1")
        return drawn

    def workout(self, drawn: tuple[str, str, int, list[Any]] | int) -> tuple[Pair, Workout]:
        """A workout's contents are those of its first drawing, every time it is sent."""
        if isinstance(drawn, int):
            if not self.contents:
                drawn = ("1", "w1", 0, [(1, 20.0, 10)])
            else:
                p = self.pair(drawn)
                return p, self.contents[p]
        user, workout_id, minutes, entries = drawn
        p = (user, workout_id)
        at = NOW - timedelta(minutes=minutes)  # two workouts may share an instant
        return p, self.contents.setdefault(p, Workout(at, tuple(entries)))

    @staticmethod
    def exercise(ex: int, revision: int, fields: tuple[Any, ...]) -> dict[str, Any]:
        variant, difficulty, weight, reps, groups = fields
        return {
            "id": ex,
            "name": f"E{ex} r{revision} v{variant}",
            "description": f"Exercise {ex}.",
            "difficulty": difficulty,
            "revision": revision,
            "default_weight": weight,
            "default_reps": reps,
            "muscle_groups": [
                {"id": g, "name": n, "body_part": b, "is_primary": p, "intensity": i}
                for g, n, b, p, i in groups
            ],
        }

    @staticmethod
    def completed(p: Pair, w: Workout, wire: tuple[bool, timezone, bool]) -> dict[str, Any]:
        as_number, zone, zulu = wire
        at = w.at.astimezone(zone).isoformat()
        return {
            "workout_id": p[1],
            "user_id": int(p[0]) if as_number else p[0],
            "completed_at": at.replace("+00:00", "Z") if zulu else at,
            "exercises": [
                {"exercise_id": e, "sets": 3, "reps": r, "weight": kg} for e, kg, r in w.entries
            ],
        }

    def steps(self, batches: list[tuple[list[tuple[Any, ...]], int | None]]) -> list[Step]:
        steps: list[Step] = []
        for ops, fold_limit in batches:
            for kind, *args in ops:
                if kind == "redeliver":
                    if not self.sent:
                        continue
                    new = self.sent[-1 - args[0] % len(self.sent)]  # the same bytes again
                else:
                    new = self.record(kind, *args)
                self.sent.append(new)
                steps.append(new)
            steps.append(CUT if fold_limit is None else Fold(fold_limit))
        return steps

    def record(self, kind: str, *args: Any) -> Sent:
        if kind == "upsert":
            data = self.exercise(*args)
            return Sent(
                EX, str(data["id"]).encode(), self.event(EXERCISE_UPSERTED, data), (kind, data)
            )
        if kind == "exercise_deleted":
            ex, revision = args
            value = self.event(EXERCISE_DELETED, {"id": ex, "revision": revision})
            return Sent(EX, str(ex).encode(), value, (kind, ex, revision))
        if kind == "tombstone":
            return Sent(EX, str(args[0]).encode(), None, (kind, args[0]))
        if kind == "completed":
            p, w = self.workout(args[0])
            value = self.event(WORKOUT_COMPLETED, self.completed(p, w, args[1]))
            return Sent(WO, p[0].encode(), value, (kind, p, w))
        if kind == "workout_deleted":
            (user, workout_id), as_number = self.pair(args[0]), args[1]
            data = {"workout_id": workout_id, "user_id": int(user) if as_number else user}
            value = self.event(WORKOUT_DELETED, data)
            return Sent(WO, user.encode(), value, (kind, (user, workout_id)))
        if kind == "unknown":
            (topic, type_), ex, user = args
            if topic == EX:
                renamed = {"id": ex, "name": "Renamed", "revision": 99}
                return Sent(EX, str(ex).encode(), self.event(type_, renamed), ("unknown",))
            shared = {"workout_id": "w1", "user_id": user}
            return Sent(WO, user.encode(), self.event(type_, shared), ("unknown",))
        assert kind == "poison"
        return Sent(*self.poison(*args[0]), ("poison",))

    def poison(self, kind: str, *args: Any) -> tuple[str, bytes | None, bytes | None]:
        """A record that must become a dead letter: (topic, key, value)."""
        if kind == "binary":
            return args[0], args[1], args[2]
        if kind == "text":
            return args[0], b"1", args[1]
        if kind in ("difficulty", "intensity"):
            ex, fields = args
            data = self.exercise(ex, 6, fields)
            if kind == "difficulty":
                data["difficulty"] = 9
            else:
                data["muscle_groups"] = [
                    {
                        "id": 1,
                        "name": "Q",
                        "body_part": "legs",
                        "is_primary": True,
                        "intensity": 2.0,
                    }
                ]
            return EX, str(ex).encode(), self.event(EXERCISE_UPSERTED, data)
        if kind == "naive_completed_at":
            p, w = self.workout(args[0])
            data = self.completed(p, w, args[1])
            data["completed_at"] = w.at.replace(tzinfo=None).isoformat()
            return WO, p[0].encode(), self.event(WORKOUT_COMPLETED, data)
        if kind == "exercise_key":
            ex, fields, upsert = args
            other = str(ex % 5 + 1).encode()
            if upsert:
                return EX, other, self.event(EXERCISE_UPSERTED, self.exercise(ex, 6, fields))
            return EX, other, self.event(EXERCISE_DELETED, {"id": ex, "revision": 6})
        if kind == "workout_key":
            (p, w), wire, completed = self.workout(args[0]), args[1], args[2]
            other = str(int(p[0]) % 3 + 1).encode()
            if completed:
                return WO, other, self.event(WORKOUT_COMPLETED, self.completed(p, w, wire))
            data = {"workout_id": p[1], "user_id": p[0]}
            return WO, other, self.event(WORKOUT_DELETED, data)
        if kind == "wrong_topic":
            ex, user, fields, workout_event = args
            if workout_event:
                data = {"workout_id": "w1", "user_id": user}
                return EX, user.encode(), self.event(WORKOUT_DELETED, data)
            return WO, str(ex).encode(), self.event(EXERCISE_UPSERTED, self.exercise(ex, 6, fields))
        if kind == "tombstone_key":
            return EX, args[0], None
        if kind == "null_workout":
            return WO, args[0].encode(), None
        if kind == "envelope":
            ex, wrong_version = args
            bad = encode_event(
                EXERCISE_DELETED, {"id": ex, "revision": 6}, event_id="bad", time=NOW
            )
            if wrong_version:
                bad["specversion"] = "0.3"
            else:
                del bad["source"]
            return EX, str(ex).encode(), orjson.dumps(bad)
        if kind == "key_not_utf8":
            return EX, b"\xff\xfe", self.event(EXERCISE_DELETED, {"id": args[0], "revision": 6})
        if kind == "negative_revision":
            value = self.event(EXERCISE_DELETED, {"id": args[0], "revision": -1})
            return EX, str(args[0]).encode(), value
        assert kind == "empty_user"
        return WO, b"", self.event(WORKOUT_DELETED, {"workout_id": "w1", "user_id": ""})


def streams(record: st.SearchStrategy[tuple[Any, ...]] = RECORD) -> st.SearchStrategy[list[Step]]:
    """Records over a small id space (so that they collide), batch cuts and folds."""
    return batches(record).map(lambda drawn: Builder().steps(drawn))


# -- the model --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogEntry:
    revision: int
    live: bool
    data: dict[str, Any] | None  # the winning upsert's data


KEPT = 3  # wod/suggestion.py KEPT_PER_EXERCISE


@dataclass(frozen=True)
class Remembered:
    at_us: int
    workout_id: str
    weight: float
    reps: int
    deleted: bool


def newest(candidates: list[Remembered]) -> list[Remembered]:
    """The KEPT newest, each workout once (the first seen; deleted if any copy is)."""
    first: dict[str, Remembered] = {}
    for c in candidates:
        held = first.get(c.workout_id)
        if held is None:
            first[c.workout_id] = c
        elif c.deleted:
            first[c.workout_id] = Remembered(
                held.at_us, held.workout_id, held.weight, held.reps, True
            )
    ordered = sorted(first.values(), key=lambda c: (c.at_us, c.workout_id), reverse=True)
    return ordered[:KEPT]


@dataclass
class Model:
    catalog: dict[int, CatalogEntry] = field(default_factory=dict)
    history: dict[Pair, Workout] = field(default_factory=dict)  # live, not folded
    markers: dict[Pair, Workout] = field(default_factory=dict)  # deleted, not folded
    deleted: set[Pair] = field(default_factory=set)  # deleted workouts, for ever
    # (user, exercise) -> the KEPT newest entries of folded workouts, deleted ones marked
    remembered: dict[tuple[str, int], list[Remembered]] = field(default_factory=dict)
    sent: Counter[str] = field(default_factory=Counter)
    dead_letters: set[tuple[str, int]] = field(default_factory=set)
    unknown: int = 0

    def apply(self, record: Sent, offset: int) -> None:
        self.sent[record.topic] += 1
        kind, *args = record.op
        if kind == "upsert":
            self.upsert(*args)
        elif kind == "exercise_deleted":
            self.delete_exercise(*args)
        elif kind == "tombstone":
            self.tombstone(*args)
        elif kind == "completed":
            self.completed(*args)
        elif kind == "workout_deleted":
            self.delete_workout(*args)
        elif kind == "unknown":
            self.unknown += 1
        else:
            assert kind == "poison"
            self.dead_letters.add((record.topic, offset))

    # catalog

    def upsert(self, data: dict[str, Any]) -> None:
        held = self.catalog.get(data["id"])
        if held is not None and data["revision"] <= held.revision:
            return
        self.catalog[data["id"]] = CatalogEntry(data["revision"], True, data)

    def delete_exercise(self, exercise_id: int, revision: int) -> None:
        held = self.catalog.get(exercise_id)
        if held is not None and revision <= held.revision:
            return
        self.catalog[exercise_id] = CatalogEntry(revision, False, held.data if held else None)

    def tombstone(self, exercise_id: int) -> None:
        held = self.catalog.get(exercise_id)
        if held is not None:
            self.catalog[exercise_id] = CatalogEntry(held.revision, False, held.data)

    def visible_catalog(self) -> list[dict[str, Any]]:
        out = []
        for exercise_id, entry in sorted(self.catalog.items()):
            if not entry.live:
                continue
            data = entry.data
            assert data is not None
            impacts = {mg["id"]: mg for mg in data["muscle_groups"]}  # the last one of an id
            ordered = sorted(
                impacts.values(), key=lambda mg: (not mg["is_primary"], -mg["intensity"], mg["id"])
            )
            out.append(
                {
                    "id": exercise_id,
                    "name": data["name"],
                    "description": data["description"],
                    "difficulty": data["difficulty"],
                    "default_weight": data["default_weight"],
                    "default_reps": data["default_reps"],
                    "muscle_groups": [
                        {
                            "id": mg["id"],
                            "name": mg["name"],
                            "body_part": mg["body_part"],
                            "is_primary": mg["is_primary"],
                            "intensity": mg["intensity"],
                        }
                        for mg in ordered
                    ],
                }
            )
        return out

    # workouts

    def completed(self, p: Pair, workout: Workout) -> None:
        if p not in self.deleted and p not in self.history:
            self.history[p] = workout

    def delete_workout(self, p: Pair) -> None:
        self.deleted.add(p)
        if p in self.history:
            self.markers[p] = self.history.pop(p)
        user, workout_id = p
        for (u, _), entries in self.remembered.items():
            if u == user:
                entries[:] = [
                    Remembered(c.at_us, c.workout_id, c.weight, c.reps, True)
                    if c.workout_id == workout_id
                    else c
                    for c in entries
                ]

    @staticmethod
    def entries(user: str, p: Pair, w: Workout, deleted: bool) -> dict[tuple[str, int], Remembered]:
        last = {e: (kg, reps) for e, kg, reps in w.entries}  # the last entry of each
        return {
            (user, e): Remembered(w.at_us, p[1], kg, reps, deleted)
            for e, (kg, reps) in last.items()
        }

    def window(self) -> list[tuple[Pair, Workout, bool]]:
        return [(p, w, False) for p, w in self.history.items()] + [
            (p, w, True) for p, w in self.markers.items()
        ]

    def fold(self) -> None:
        for p, w, deleted in self.window():
            if w.at_us >= CUTOFF_US:
                continue
            for key, entry in self.entries(p[0], p, w, deleted).items():
                self.remembered[key] = newest([*self.remembered.get(key, []), entry])
            (self.markers if deleted else self.history).pop(p)

    def done_between(self, user: str, start_us: int, end_us: int) -> set[int]:
        return {
            exercise_id
            for (u, _), w in self.history.items()
            if u == user and start_us <= w.at_us < end_us
            for exercise_id, _, _ in w.entries
        }

    def performances(self, user: str) -> dict[int, tuple[float, int]]:
        candidates: dict[int, list[Remembered]] = {}
        for (u, e), entries in self.remembered.items():
            if u == user:
                candidates.setdefault(e, []).extend(entries)
        for p, w, deleted in self.window():
            if p[0] == user:
                for (_, e), entry in self.entries(user, p, w, deleted).items():
                    candidates.setdefault(e, []).append(entry)
        out = {}
        for e, entries in candidates.items():
            alive = [c for c in newest(entries) if not c.deleted]
            if alive:
                out[e] = (alive[0].weight, alive[0].reps)
        return out

    def stats(self) -> dict[str, int]:
        return {
            "exercises": sum(entry.live for entry in self.catalog.values()),
            "workouts": len(self.history),
            "completed_exercises": sum(len(w.entries) for w in self.history.values()),
            "performances": sum(
                not c.deleted for entries in self.remembered.values() for c in entries
            ),
            "dead_letters": len(self.dead_letters),
            "unknown_events": self.unknown,
        }


# -- running a stream -------------------------------------------------------------------------


def check(conn: sqlite3.Connection, model: Model) -> None:
    """The projection, as the api and `coach stats` read it, equals the model."""
    assert [asdict(e) for e in reads.load_catalog(conn)] == model.visible_catalog()
    stats = reads.stats(conn)
    assert {name: stats[name] for name in model.stats()} == model.stats()
    for user in USERS:
        for start_us, end_us in WINDOWS:
            done = reads.done_between(conn, user_id=user, start_us=start_us, end_us=end_us)
            assert done == model.done_between(user, start_us, end_us), (user, start_us, end_us)
        got = reads.performances(conn, user_id=user, exercise_ids=EXERCISE_IDS)
        assert {e: (p.weight, p.reps) for e, p in got.items()} == model.performances(user), user
    assert reads.positions(conn) == {(topic, 0): n for topic, n in model.sent.items()}
    letters = conn.execute('SELECT topic, "offset" FROM dead_letters').fetchall()
    assert set(letters) == model.dead_letters


class Projection:
    """The real projection file, fed as the consumer feeds it, checked against the model."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.model = Model()
        self.offsets: Counter[str] = Counter()

    def apply(self, batch: list[Sent]) -> None:
        if not batch:
            return
        records = []
        for sent in batch:
            offset = self.offsets[sent.topic]
            self.offsets[sent.topic] += 1
            records.append(Record(sent.topic, 0, offset, sent.key, sent.value, NOW_US // 1000))
        catalog_before = self.model.visible_catalog()
        version_before = reads.catalog_version(self.conn)
        result = commit_records(self.conn, records, roles=ROLES, ctx=CTX)
        for sent, record in zip(batch, records, strict=True):
            self.model.apply(sent, record.offset)
        kinds = Counter(sent.op[0] for sent in batch)
        assert (result.records, result.dead_letters, result.unknown) == (
            len(batch),
            kinds["poison"],
            kinds["unknown"],
        )
        if self.model.visible_catalog() != catalog_before:
            assert reads.catalog_version(self.conn) != version_before, "catalog version kept"
        check(self.conn, self.model)

    def fold(self, limit: int) -> None:
        """What the consumer does once a minute, chunk by chunk."""
        while True:
            with transaction(self.conn):
                n = fold_and_prune(self.conn, before_us=CUTOFF_US, limit=limit)
            if n == 0:
                break
        self.model.fold()
        check(self.conn, self.model)


@contextmanager
def quiet_dead_letters() -> Iterator[None]:
    """The consumer logs every dead letter; hundreds of them would bury a failure."""
    logger = logging.getLogger("consumer.commit")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def run(steps: list[Step]) -> None:
    shm = Path("/dev/shm")  # a real file, without the fsyncs of a disk
    base = str(shm) if shm.is_dir() else None
    with tempfile.TemporaryDirectory(dir=base) as tmp, quiet_dead_letters():
        conn = connect(Path(tmp) / "coach.db")
        try:
            projection = Projection(conn)
            batch: list[Sent] = []
            for step in steps:
                if isinstance(step, Sent):
                    batch.append(step)
                    continue
                projection.apply(batch)
                batch = []
                if isinstance(step, Fold):
                    projection.fold(step.limit)
            projection.apply(batch)
            check(conn, projection.model)
        except AssertionError as exc:
            # Spelled out here too: a pytest plugin may hide hypothesis' falsifying example.
            exc.add_note("The stream, a step a line:\n" + "\n".join(f"  {s!r}" for s in steps))
            raise
        finally:
            conn.close()


# No explain phase: on a failure it costs more than finding and shrinking the example. One
# bug at a time: two failing checks of one stream would be shrunk twice.
SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=(Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink),
    report_multiple_bugs=False,
)


@SETTINGS
@given(streams())
def test_projection_matches_the_contract_model(steps: list[Step]) -> None:
    """Any stream, batch split and fold schedule leaves the projection as the contract says."""
    run(steps)


@SETTINGS
@given(streams(WORKOUT_RECORD))
def test_workout_history_matches_the_contract_model(steps: list[Step]) -> None:
    """Workouts completed, redelivered, deleted and folded: history and suggestions hold."""
    run(steps)


# -- live against a replay --------------------------------------------------------------------

HOUR_MS = 3_600_000
DAY_US = 86_400_000_000
RECORD_AGES_HOURS = st.lists(st.integers(0, 10 * 24), min_size=1, max_size=12)
"""Record timestamps, by offset: a deleted workout's marker carries its delete's."""
FOLD_AGES_HOURS = st.lists(st.integers(50, 12 * 24), max_size=10)
"""How far behind NOW each fold of the live projection cut (the clock moves on, so the cut
moves forward from fold to fold); the last fold of both is at 50 h."""


def partition_of(sent: Sent) -> int:
    """Two partitions per topic, by key, as a producer's partitioner spreads them."""
    return zlib.crc32(sent.key or b"") % 2


def apply_all(
    conn: sqlite3.Connection,
    batch: list[Sent],
    offsets: Counter[tuple[str, int]],
    ages: list[int],
    ctx: Context,
) -> None:
    if not batch:
        return
    records = []
    for sent in batch:
        where = (sent.topic, partition_of(sent))
        offset = offsets[where]
        offsets[where] += 1
        at_ms = NOW_US // 1000 - ages[offset % len(ages)] * HOUR_MS
        records.append(Record(sent.topic, where[1], offset, sent.key, sent.value, at_ms))
    commit_records(conn, records, roles=ROLES, ctx=ctx)


def fold_all(conn: sqlite3.Connection, before_us: int, limit: int) -> None:
    while True:
        with transaction(conn):
            if fold_and_prune(conn, before_us=before_us, limit=limit) == 0:
                return


def outbox_order(steps: list[Step]) -> list[Step]:
    """The stream without a workout's first completion after a delete of it: the monolith's
    outbox never publishes a workout's delete before the workout (redeliveries of either
    are kept). That order is the one place where when the live projection folded shows:
    once the delete's marker is pruned (COACH_HISTORY_HOURS after the delete), the live
    projection counts the workout, while a replay, which folds at the end, does not
    (docs/projection.md)."""
    completed: set[Pair] = set()
    deleted_unseen: set[Pair] = set()
    kept: list[Step] = []
    for step in steps:
        if isinstance(step, Sent):
            kind, *args = step.op
            if kind == "completed":
                if args[0] in deleted_unseen:
                    continue
                completed.add(args[0])
            elif kind == "workout_deleted" and args[0] not in completed:
                deleted_unseen.add(args[0])
        kept.append(step)
    return kept


@SETTINGS
@given(streams(), RECORD_AGES_HOURS, FOLD_AGES_HOURS)
def test_a_replay_equals_the_live_projection_whenever_the_live_one_folded(
    steps: list[Step], record_ages: list[int], fold_ages: list[int]
) -> None:
    """The same records applied live (in the stream's batches, folding at moments and cuts
    of their own) and as a replay (one batch, one fold at the end): every table's checksum
    and every user's answers are equal, as `coach replay` compares them."""
    from replay.verify import answers
    from store.checks import checksums

    steps = outbox_order(steps)
    cuts = iter(sorted(to_us(NOW - timedelta(hours=h)) for h in fold_ages))
    shm = Path("/dev/shm")
    with (
        tempfile.TemporaryDirectory(dir=str(shm) if shm.is_dir() else None) as tmp,
        quiet_dead_letters(),
    ):
        live, rebuilt = connect(Path(tmp) / "live.db"), connect(Path(tmp) / "rebuilt.db")
        try:
            offsets: Counter[tuple[str, int]] = Counter()
            batch: list[Sent] = []
            clock = NOW_US  # the live consumer's clock moves on from batch to batch
            for step in steps:
                if isinstance(step, Sent):
                    batch.append(step)
                    continue
                apply_all(live, batch, offsets, record_ages, Context(now_us=clock))
                clock += 60_000_000
                batch = []
                if isinstance(step, Fold):
                    fold_all(live, next(cuts, CUTOFF_US), step.limit)
            apply_all(live, batch, offsets, record_ages, Context(now_us=clock))
            # The replay, a day later, reads partition by partition: another interleaving.
            sent = sorted(
                (s for s in steps if isinstance(s, Sent)), key=lambda s: (s.topic, partition_of(s))
            )
            apply_all(rebuilt, sent, Counter(), record_ages, Context(now_us=clock + DAY_US))
            for conn in (live, rebuilt):
                fold_all(conn, CUTOFF_US, FOLD_CHUNK)
            assert checksums(live) == checksums(rebuilt)
            assert answers(live, USERS) == answers(rebuilt, USERS)
        except AssertionError as exc:
            exc.add_note("The stream, a step a line:\n" + "\n".join(f"  {s!r}" for s in steps))
            raise
        finally:
            live.close()
            rebuilt.close()
