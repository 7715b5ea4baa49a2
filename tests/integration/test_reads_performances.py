"""store.reads.performances: one primary key lookup per exercise (up to 32), an IN list
beyond; both give the rule's answer for every exercise asked, on a real SQLite file."""

from __future__ import annotations

import random

import pytest

from store import reads
from store.db import connect
from wod.suggestion import Entry, best_performances


@pytest.mark.parametrize("asked", [1, 2, 6, 32, 33, 60])
def test_every_statement_shape_gives_the_rule_s_answer(db_path, asked: int) -> None:
    conn = connect(db_path)
    rng = random.Random(asked)
    rows = []
    for user in ("7", "8"):
        for exercise_id in range(1, 61):
            for n in range(rng.randint(0, 3)):
                rows.append(
                    (
                        user,
                        exercise_id,
                        f"w{exercise_id}-{n}",
                        1_000 + rng.randrange(10**6),
                        3,
                        rng.randint(1, 20),
                        float(rng.randint(0, 200)),
                        rng.random() < 0.3,
                    )
                )
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO performances (user_id, exercise_id, workout_id, completed_at_us, sets, "
        "reps, weight, deleted) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    conn.execute("COMMIT")
    wanted = rng.sample(range(1, 61), asked)
    expected: dict[int, list[Entry]] = {}
    for user, exercise_id, workout, at, sets, reps, weight, deleted in rows:
        if user == "7" and exercise_id in wanted:
            expected.setdefault(exercise_id, []).append(
                Entry(at, workout, sets, reps, weight, deleted)
            )
    got = reads.performances(conn, user_id="7", exercise_ids=wanted, recent=None)
    assert got == best_performances(expected)
    assert got, "the sample holds performances: the comparison is not empty"
    conn.close()
