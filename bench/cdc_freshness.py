"""Freshness through change data capture: from a workout's commit in the monolith's
PostgreSQL to the first WOD of coach that reflects it, under a steady load of workouts.

    .venv/bin/python bench/cdc_freshness.py [--rate 500] [--seconds 30] [--status-cache 0.05]

1. A PostgreSQL database of its own (tools/cdc/cdc.py's cluster), the stand-in monolith's
   tables and the outbox; a Kafka Connect worker of its own with Debezium's connector
   (poll.interval.ms=20) to topics of their own; a real `coach run`.
2. A catalog of 8 exercises. Writer threads commit `--rate` workouts a second (each in its
   own transaction with its outbox event, as deploy/monolith/models.py `log_workout`) for
   20,000 background users.
3. Ten probes a second: a new user commits a workout yesterday of exercises 1-3; the probe
   polls that user's WOD (every 5 ms) until it holds none of them. The time from the
   commit's return to that answer is the freshness.

Writes bench/results/cdc_freshness.json: p50, p90, p99 and max of the freshness, the rate
of workouts reached, and the probes that never saw their workout (should be none).
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, bench_settings, machine_info, save_result
from deploy.monolith import models

SECRET = "bench-secret-" + "x" * 40
CATALOG = 8
PROBE_EXERCISES = (1, 2, 3)


def _load_cdc() -> Any:
    spec = importlib.util.spec_from_file_location("cdc_tools", REPO / "tools/cdc/cdc.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class Writers:
    """Threads committing workouts at `rate` per second in all, one transaction each."""

    def __init__(self, sessions: sessionmaker[Any], rate: float, threads: int = 6) -> None:
        self.sessions, self.rate, self.threads = sessions, rate, threads
        self.committed = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers = [threading.Thread(target=self._run, args=(i,)) for i in range(threads)]

    def start(self) -> None:
        self.started = time.monotonic()
        for w in self._workers:
            w.start()

    def stop(self) -> float:
        self._stop.set()
        for w in self._workers:
            w.join()
        return self.committed / (time.monotonic() - self.started)

    def _run(self, index: int) -> None:
        rng = random.Random(index)
        per_thread = self.rate / self.threads
        done = 0
        begun = time.monotonic()
        yesterday = datetime.now(UTC) - timedelta(days=1)
        while not self._stop.is_set():
            with self.sessions.begin() as session:
                models.log_workout(
                    session,
                    user_id=f"bg{rng.randrange(20_000)}",
                    completed_at=yesterday,
                    exercises=[
                        {"exercise_id": rng.randint(1, CATALOG), "sets": 3, "reps": 8, "weight": 50}
                    ],
                )
            done += 1
            with self._lock:
                self.committed += 1
            ahead = done / per_thread - (time.monotonic() - begun)
            if ahead > 0:
                time.sleep(ahead)


def probe(sessions: sessionmaker[Any], port: int, user: str, timeout: float) -> float | None:
    """Commit a workout of PROBE_EXERCISES yesterday for `user`; seconds until the WOD
    reflects it (None: not within `timeout`)."""
    token = jwt.encode({"sub": user, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    with sessions.begin() as session:
        models.log_workout(
            session,
            user_id=user,
            completed_at=datetime.now(UTC) - timedelta(days=1),
            exercises=[
                {"exercise_id": e, "sets": 3, "reps": 5, "weight": 60} for e in PROBE_EXERCISES
            ],
        )
    committed = time.perf_counter()
    try:
        while time.perf_counter() - committed < timeout:
            conn.request("GET", "/fitness/wod?tz=UTC", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                ids = {e["id"] for e in json.loads(body)["exercises"]}
                if not ids & set(PROBE_EXERCISES):
                    return time.perf_counter() - committed
            time.sleep(0.005)
    finally:
        conn.close()
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500, help="workouts a second (background)")
    parser.add_argument("--seconds", type=float, default=30, help="how long the probes run")
    parser.add_argument("--probes-per-second", type=float, default=10)
    parser.add_argument(
        "--status-cache", type=float, default=0.05, help="COACH_STATUS_CACHE_SECONDS of the api"
    )
    args = parser.parse_args()

    cdc = _load_cdc()
    home = Path(tempfile.mkdtemp(prefix="cdc-bench-"))
    settings = bench_settings(home / "coach.db").model_copy(
        update={"jwt_secret": SECRET, "status_cache_seconds": args.status_cache}
    )
    cdc.start_postgres(quiet=True)
    dbname = f"bench_{uuid.uuid4().hex[:10]}"
    cdc.create_database(dbname)
    url = f"postgresql+psycopg://postgres@127.0.0.1:{cdc.PG_PORT}/{dbname}"
    engine = create_engine(url, pool_size=12, max_overflow=4)
    sessions = sessionmaker(engine)
    with engine.begin() as conn:
        models.create_schema(conn)
    from tests.conftest import env_of  # the COACH_* environment of the settings

    env = env_of(settings)
    subprocess.run([str(REPO / ".venv/bin/coach"), "topics", "create"], env=env, check=True)
    connector = cdc.connector_config(
        dbname, dbname=dbname, topics=(settings.topic_exercises, settings.topic_workouts)
    )
    rest = _free_port()
    cdc.start_connect(
        home / "connect",
        [connector],
        rest_port=rest,
        bootstrap=settings.kafka_bootstrap_servers,
        quiet=True,
    )
    port = _free_port()
    log = open(home / "coach.log", "wb")  # noqa: SIM115
    service = subprocess.Popen(
        [str(REPO / ".venv/bin/coach"), "run", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    results: list[float] = []
    missed = 0
    try:
        with sessions.begin() as session:
            for i in range(1, CATALOG + 1):
                models.save_exercise(
                    session,
                    {
                        "id": i,
                        "name": f"Exercise {i}",
                        "difficulty": 3,
                        "default_weight": 20,
                        "default_reps": 8,
                        "muscle_groups": [
                            {
                                "id": 1,
                                "name": "Legs",
                                "body_part": "legs",
                                "is_primary": True,
                                "intensity": 0.5,
                            }
                        ],
                    },
                )
        deadline = time.monotonic() + 60
        while probe(sessions, port, f"warmup-{uuid.uuid4().hex[:6]}", 30) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"coach never reflected a workout; see {home / 'coach.log'}")
        writers = Writers(sessions, args.rate)
        writers.start()
        time.sleep(3)  # the load reaches its pace
        lock = threading.Lock()
        threads = []

        def one(user: str) -> None:
            nonlocal missed
            took = probe(sessions, port, user, 10)
            with lock:
                if took is None:
                    missed += 1
                else:
                    results.append(took)

        started = time.monotonic()
        n = 0
        while time.monotonic() - started < args.seconds:
            thread = threading.Thread(target=one, args=(f"probe-{n}",))
            thread.start()
            threads.append(thread)
            n += 1
            time.sleep(1 / args.probes_per_second)
        for thread in threads:
            thread.join()
        rate = writers.stop()
    finally:
        service.terminate()
        service.wait(30)
        log.close()
        cdc.stop_connect(home / "connect", quiet=True)
        engine.dispose()
        cdc.drop_database(dbname, slot=connector["slot.name"])

    ms = [r * 1000 for r in results]
    data = {
        "target_rate": args.rate,
        "rate": round(rate, 1),
        "probes": len(results) + missed,
        "missed": missed,
        "status_cache_seconds": args.status_cache,
        "p50_ms": round(statistics.median(ms), 1),
        "p90_ms": round(_percentile(ms, 0.90), 1),
        "p99_ms": round(_percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
    }
    print(
        f"commit -> WOD under {data['rate']:.0f} workouts/s: p50 {data['p50_ms']} ms, "
        f"p90 {data['p90_ms']} ms, p99 {data['p99_ms']} ms, max {data['max_ms']} ms "
        f"({data['probes']} probes, {missed} missed)"
    )
    save_result("cdc_freshness", data, info=machine_info())
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
