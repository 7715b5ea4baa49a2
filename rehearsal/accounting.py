"""The accounting at the end: every workout, deletion and erasure committed in PostgreSQL is
in each replica's projection exactly once, compared row by row, and nothing of an erased
user is anywhere. `account` is pure; `truth_from_postgres` and `held_by` read the two sides."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Truth:
    """What PostgreSQL committed: the workouts that exist, the ones deleted, the users erased."""

    live: dict[str, str]  # workout id -> user id
    deleted: frozenset[str]
    erased: frozenset[str]


@dataclass(frozen=True)
class Held:
    """What one projection holds: its workout rows and what it knows of erasures."""

    rows: list[tuple[str, str, int]]  # (workout id, user id, deleted)
    erased: frozenset[str]
    erased_user_rows: int
    """Rows anywhere (workouts, performances) of a user the projection says it erased."""


@dataclass
class Account:
    replica: str
    live: int = 0
    deleted: int = 0
    erased: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    ghosts: list[str] = field(default_factory=list)
    """Rows the projection serves that PostgreSQL deleted or never had."""
    erasures_missing: list[str] = field(default_factory=list)
    erased_user_rows: int = 0

    @property
    def ok(self) -> bool:
        return (
            not (self.lost or self.doubled or self.ghosts or self.erasures_missing)
            and not self.erased_user_rows
        )

    def summary(self) -> str:
        return (
            f"{self.replica}: {self.live} workouts, {self.deleted} deletions, {self.erased} "
            f"erasures; lost {len(self.lost)}, doubled {len(self.doubled)}, served though "
            f"deleted or unknown {len(self.ghosts)}, erasures missing "
            f"{len(self.erasures_missing)}, rows of erased users {self.erased_user_rows}"
        )


def account(replica: str, truth: Truth, held: Held) -> Account:
    result = Account(replica, len(truth.live), len(truth.deleted), len(truth.erased))
    counts = Counter(workout for workout, _, _ in held.rows)
    result.doubled = sorted(w for w, n in counts.items() if n > 1)
    served = {w for w, _, deleted in held.rows if not deleted}
    result.lost = sorted(set(truth.live) - served)
    result.ghosts = sorted(served - set(truth.live))
    result.erasures_missing = sorted(truth.erased - held.erased)
    result.erased_user_rows = held.erased_user_rows + sum(
        1 for _, user, _ in held.rows if user in truth.erased
    )
    return result


def truth_from_postgres(psql: Callable[[str], str]) -> Truth:
    """`psql` runs SQL on the monolith's database and returns its unaligned output."""

    def rows(sql: str) -> list[list[str]]:
        return [line.split("|") for line in psql(sql).splitlines() if line.strip()]

    live = {w: u for w, u in rows("SELECT id, user_id FROM workouts")}
    deleted = frozenset(
        r[0]
        for r in rows(
            "SELECT payload::jsonb->'data'->>'workout_id' FROM outbox "
            "WHERE type = 'fitness.workout.deleted'"
        )
    )
    erased = frozenset(
        r[0]
        for r in rows("SELECT DISTINCT aggregateid FROM outbox WHERE type = 'fitness.user.erased'")
    )
    return Truth(live=live, deleted=deleted, erased=erased)


def held_by(db: Path) -> Held:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = [
            (str(w), str(u), int(d))
            for w, u, d in conn.execute("SELECT workout_id, user_id, deleted FROM workouts")
        ]
        erased = frozenset(str(u) for (u,) in conn.execute("SELECT user_id FROM erased_users"))
        in_performances = conn.execute(
            "SELECT count(*) FROM performances WHERE user_id IN (SELECT user_id FROM erased_users)"
        ).fetchone()[0]
    finally:
        conn.close()
    return Held(rows=rows, erased=erased, erased_user_rows=int(in_performances))
