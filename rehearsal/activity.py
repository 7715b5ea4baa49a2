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


def burst(database_url: str, users: int, count: int, seconds: float) -> tuple[int, float]:
    """`count` workouts, one transaction each, paced over `seconds`; (committed, took)."""
    from sqlalchemy import create_engine
    from sqlalchemy.orm import sessionmaker

    from deploy.monolith import models

    engine = create_engine(database_url, pool_size=4)
    sessions = sessionmaker(engine)
    rng = random.Random(11)  # nosec B311
    started = time.monotonic()
    committed = 0

    def one(i: int) -> None:
        nonlocal committed
        target = started + seconds * i / count
        time.sleep(max(0.0, target - time.monotonic()))
        body = workout(rng.randint(1, users), rng=rng)
        with sessions.begin() as session:
            models.log_workout(
                session, user_id=body["user_id"], exercises=body["exercises"],
                workout_id=body["workout_id"],
            )  # fmt: skip
        committed += 1

    try:
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(one, range(count)))
    finally:
        engine.dispose()
    return committed, time.monotonic() - started
