"""The monolith's writes the rehearsal makes besides the load: the seed (the catalog and a
history the backfill publishes), deletions and erasures while it runs, and the burst of
workouts in a few seconds. Through the monolith's HTTP api, except the burst, which commits
with the monolith's own code (deploy/monolith/models.py) to reach its rate."""

from __future__ import annotations

import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from rehearsal.infra import REPO, post_json

CATALOG_SIZE = 48


def _request(method: str, url: str, body: Any = None) -> int:
    import json
    import urllib.error
    import urllib.request

    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=20) as r:  # nosec B310 (loopback)
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def workout(
    user: int, at: datetime | None = None, rng: random.Random | None = None
) -> dict[str, Any]:
    rng = rng or random.Random()  # nosec B311 (test data)
    body: dict[str, Any] = {
        "user_id": str(user),
        "workout_id": f"w-{uuid.uuid4()}",
        "exercises": [
            {
                "exercise_id": e,
                "sets": 3,
                "reps": rng.randint(5, 12),
                "weight": 10.0 * rng.randint(1, 8),
            }
            for e in rng.sample(range(1, CATALOG_SIZE + 1), 4)
        ],
    }
    if at is not None:
        body["completed_at"] = at.isoformat()
    return body


def seed(monolith: str, users: int, workouts: int, extra_users: range) -> None:
    """The demo catalog, then `workouts` workouts of users 1..users, and one per user of
    `extra_users` (the ones erased later), all completed about 20 hours ago."""
    import sys

    sys.path.insert(0, str(REPO))
    from coach.demo import catalog_events

    base = f"http://{monolith}"
    for event in catalog_events():
        data = event["data"]
        status = _request("PUT", f"{base}/exercises/{data['id']}", data)
        if status != 200:
            raise RuntimeError(f"the monolith refused exercise {data['id']}: {status}")
    rng = random.Random(29)  # nosec B311
    when = datetime.now(UTC) - timedelta(hours=20)
    bodies = [workout(rng.randint(1, users), when, rng) for _ in range(workouts)]
    bodies += [workout(u, when, rng) for u in extra_users]
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda b: _request("POST", f"{base}/workouts", b), bodies))
    refused = [s for s in statuses if s != 201]
    if refused:
        raise RuntimeError(f"the monolith refused {len(refused)} seed workouts: {refused[:5]}")


class Writer(threading.Thread):
    """Every `every` seconds: a workout logged and deleted again, and, while any is left, one
    of `erasable` users erased. Counts what the monolith refused."""

    def __init__(self, monolith: str, users: int, erasable: list[int], every: float) -> None:
        super().__init__(daemon=True, name="writer")
        self.base = f"http://{monolith}"
        self.users, self.erasable, self.every = users, list(erasable), every
        self.stopping = threading.Event()
        self.done = {"deleted": 0, "erased": 0, "refused": 0}

    def run(self) -> None:
        rng = random.Random(7)  # nosec B311
        while not self.stopping.wait(self.every):
            try:
                body = workout(rng.randint(1, self.users), rng=rng)
                if _request("POST", f"{self.base}/workouts", body) == 201:
                    ok = _request("DELETE", f"{self.base}/workouts/{body['workout_id']}") == 204
                    self.done["deleted" if ok else "refused"] += 1
                else:
                    self.done["refused"] += 1
                if self.erasable:
                    user = self.erasable.pop()
                    post_json(f"{self.base}/users/{user}/erase", {})
                    self.done["erased"] += 1
            except OSError:
                self.done["refused"] += 1

    def stop(self) -> None:
        self.stopping.set()
        self.join(30)


BURST_BATCH = 25
"""Workouts per transaction in the burst: a bulk import of the monolith (5,000 single-row
transactions in 10 s, with the ORM and the outbox, are more than this machine's two shared
cores commit while the rest of the rehearsal runs: 30 to 65 s were measured)."""


def _burst_part(
    database_url: str, users: int, batches: list[int], count: int, started: float, seconds: float
) -> int:
    """One process's share of the burst: its batches, each paced to its moment."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from deploy.monolith import models

    engine = create_engine(database_url, pool_size=2)
    sessions = sessionmaker(engine)
    rng = random.Random(batches[0] if batches else 0)  # nosec B311 (test data)
    committed = 0
    try:
        for b in batches:
            first = b * BURST_BATCH
            size = min(BURST_BATCH, count - first)
            time.sleep(max(0.0, started + seconds * first / count - time.monotonic()))
            with sessions.begin() as session:
                models.log_workouts(
                    session, [workout(rng.randint(1, users), rng=rng) for _ in range(size)]
                )
            committed += size
    finally:
        engine.dispose()
    return committed


def burst(database_url: str, users: int, count: int, seconds: float) -> tuple[int, float]:
    """`count` workouts in transactions of BURST_BATCH, paced over `seconds`, written by two
    processes with the monolith's own code (models.log_workouts: the workouts and their
    outbox events in one transaction); (committed, took)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    batches = list(range(-(-count // BURST_BATCH)))
    # spawn, not fork: the rehearsal's process runs threads (the load's, the activity's)
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        started = time.monotonic() + 1.0  # the processes' start-up before the first batch
        parts = [
            pool.submit(_burst_part, database_url, users, batches[k::2], count, started, seconds)
            for k in range(2)
        ]
        committed = sum(p.result() for p in parts)
    return committed, time.monotonic() - started
