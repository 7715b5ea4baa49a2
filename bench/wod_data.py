"""The data of bench/wod.py (also used by bench/tail.py, bench/adr.py and the other WOD
benchmarks): the projection, 200 exercises and 100,000 workouts of 50,000 users completed over
the last 48 hours, built in a SQLite file with the consumer's own batch application; the
signed tokens of distinct users; and the micro-benchmark of one token's verification."""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from consumer.commit import commit_records  # noqa: E402
from consumer.handlers import Context  # noqa: E402
from consumer.records import Record  # noqa: E402
from events import EXERCISE_UPSERTED, WORKOUT_COMPLETED, encode_event  # noqa: E402
from store.db import connect  # noqa: E402
from store.instants import now_us  # noqa: E402

SECRET = "bench-secret-" + "b" * 40
EXERCISES = 200
WORKOUTS = 100_000
USERS = 50_000
TOKENS = 5_000
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
ROLES = {"ex": "exercises", "wo": "workouts"}


def catalog_events(rng: random.Random, exercises: int = EXERCISES) -> Iterator[dict[str, Any]]:
    groups = [
        (g, f"Muscle group {g}", ["legs", "back", "chest", "arms", "core"][g % 5])
        for g in range(1, 17)
    ]
    for i in range(1, exercises + 1):
        picked = rng.sample(groups, rng.randint(2, 4))
        yield encode_event(
            EXERCISE_UPSERTED,
            {
                "id": i,
                "name": f"Exercise number {i}",
                "description": "Keep the back flat, brace the core, move through the full "
                f"range of motion under control (variant {i}).",
                "difficulty": 1 + i % 5,
                "revision": 1,
                "default_weight": float(5 * (i % 20)),
                "default_reps": 6 + i % 10,
                "muscle_groups": [
                    {
                        "id": g,
                        "name": name,
                        "body_part": part,
                        "is_primary": n == 0,
                        "intensity": round(0.9 - 0.2 * n, 2),
                    }
                    for n, (g, name, part) in enumerate(picked)
                ],
            },
        )


def workout_events(
    rng: random.Random,
    now: datetime,
    *,
    exercises: int = EXERCISES,
    workouts: int = WORKOUTS,
    users: int = USERS,
) -> Iterator[dict[str, Any]]:
    for n in range(workouts):
        yield encode_event(
            WORKOUT_COMPLETED,
            {
                "workout_id": f"bench-{n}",
                "user_id": str(rng.randint(1, users)),
                "completed_at": (now - timedelta(seconds=rng.randint(60, 48 * 3600))).isoformat(),
                "exercises": [
                    {
                        "exercise_id": e,
                        "sets": 3,
                        "reps": rng.randint(3, 12),
                        "weight": float(rng.randint(0, 60)) * 2.5,
                    }
                    for e in rng.sample(range(1, exercises + 1), rng.randint(3, 6))
                ],
            },
            time=now,
            event_id=f"bench-{n}",
        )


def build_projection(
    db_path: Path,
    *,
    exercises: int = EXERCISES,
    workouts: int = WORKOUTS,
    users: int = USERS,
) -> float:
    """Apply the catalog and the workouts as the consumer would; return the seconds taken."""
    started = time.perf_counter()
    rng = random.Random(7)
    now = datetime.now(UTC)
    conn = connect(db_path)
    offsets = {"ex": 0, "wo": 0}

    def apply(topic: str, events: list[dict[str, Any]]) -> None:
        records = []
        for event in events:
            key = str(event["data"].get("id", event["data"].get("user_id"))).encode()
            records.append(Record(topic, 0, offsets[topic], key, orjson.dumps(event)))
            offsets[topic] += 1
        current = now_us()
        commit_records(conn, records, roles=ROLES, ctx=Context(now_us=current))

    apply("ex", list(catalog_events(rng, exercises)))
    batch: list[dict[str, Any]] = []
    for event in workout_events(rng, now, exercises=exercises, workouts=workouts, users=users):
        batch.append(event)
        if len(batch) == 5000:
            apply("wo", batch)
            batch = []
    if batch:
        apply("wo", batch)
    # A caught-up consumer's status, as its heartbeat would leave it.
    conn.execute("UPDATE partitions SET high_watermark = next_offset")
    conn.execute(
        "UPDATE consumer_status SET heartbeat_at_us = ?, broker_reachable = 1", (now_us(),)
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def write_tokens(path: Path, *, users: int = USERS, count: int = TOKENS) -> None:
    rng = random.Random(11)
    exp = int(time.time()) + 4 * 3600
    lines = []
    for user in rng.sample(range(1, users + 1), min(count, users)):
        claims: dict[str, Any] = {"sub": str(user), "exp": exp, "iat": int(time.time())}
        if user % 4 == 0:
            claims["zoneinfo"] = ZONES[user % len(ZONES)]
        lines.append(jwt.encode(claims, SECRET, algorithm="HS256"))
    path.write_text("\n".join(lines) + "\n")


def token_micro_benchmark(tokens: Path) -> str:
    """Verifying a token with PyJWT, and finding it in the cache, in this process."""
    import timeit

    from api.auth import TokenVerifier
    from api.tokencache import CachedVerifier

    all_tokens = tokens.read_text().split()
    verifier = TokenVerifier(key=SECRET.encode(), algorithms=("HS256",))
    cached = CachedVerifier(verifier, 10_000)
    for token in all_tokens:
        cached.verify(token)
    n = len(all_tokens)

    def verify_all() -> None:
        for token in all_tokens:
            verifier.verify(token)

    def hit_all() -> None:
        for token in all_tokens:
            cached.verify(token)

    verify = min(timeit.repeat(verify_all, number=1, repeat=5)) / n * 1e6
    hit = min(timeit.repeat(hit_all, number=1, repeat=5)) / n * 1e6
    return f"PyJWT HS256 verification {verify:.1f} us per token, cache hit {hit:.1f} us"
