"""The parts of bench/cdc_freshness.py: the monolith's side (a workout and its outbox event
committed in one transaction, pgbench's steady load of them), the probe that polls a new
user's WOD until it reflects the workout, the watch on the topic, and small helpers (ports,
pgbench's rate, dead letters, percentiles)."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import json
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
from aiokafka import AIOKafkaConsumer, TopicPartition
from sqlalchemy import insert

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO
from deploy.monolith import models
from monolith_kit import add_to_outbox, workout_completed

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


def _tps(report: str) -> float:
    for line in report.splitlines():
        if line.startswith("tps = "):
            return float(line.split()[2])
    raise SystemExit(f"pgbench failed:\n{report}")


def _dead_letters(db_path: Path) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM dead_letters").fetchone()[0])
    finally:
        conn.close()


def _answers(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _commit_workout(engine: Any, user: str, at: datetime, exercises: list[int]) -> None:
    """One workout and its outbox event in one transaction (SQLAlchemy Core: the ORM's
    per-row cost would be the benchmark's limit, not the relay's)."""
    workout_id = str(uuid.uuid4())
    entries = [{"exercise_id": e, "sets": 3, "reps": 8, "weight": 50.0} for e in exercises]
    with engine.begin() as conn:
        conn.execute(
            insert(models.Workout.__table__),
            {"id": workout_id, "user_id": user, "completed_at": at},
        )
        conn.execute(
            insert(models.WorkoutExercise.__table__),
            [{"workout_id": workout_id, "position": i, **e} for i, e in enumerate(entries)],
        )
        add_to_outbox(
            conn,
            workout_completed(
                workout_id=workout_id, user_id=user, completed_at=at, exercises=entries
            ),
        )


PGBENCH_SCRIPT = """\\set u random(1, 20000)
\\set e random(1, 8)
WITH w AS (
  INSERT INTO workouts (id, user_id, completed_at)
  VALUES (gen_random_uuid()::text, 'bg' || :u, now() - interval '1 day')
  RETURNING id, user_id, completed_at
), x AS (
  INSERT INTO workout_exercises (workout_id, position, exercise_id, sets, reps, weight)
  SELECT id, 0, :e, 3, 8, 50.0 FROM w
)
INSERT INTO outbox (id, aggregatetype, aggregateid, type, payload)
SELECT gen_random_uuid(), 'workout', user_id, 'fitness.workout.completed', json_build_object(
  'specversion', '1.0', 'id', gen_random_uuid(), 'source', '/monolith/fit',
  'type', 'fitness.workout.completed', 'datacontenttype', 'application/json',
  'time', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
  'data', json_build_object(
    'workout_id', id, 'user_id', user_id,
    'completed_at', to_char(completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
    'exercises', json_build_array(json_build_object(
      'exercise_id', :e, 'sets', 3, 'reps', 8, 'weight', 50.0))))
FROM w;
"""
"""The background load: what `_commit_workout` does, as one statement (one transaction)
that pgbench runs at a fixed rate. Python writers would take the cores the system under
test needs; pgbench costs little."""


def _pgbench(cdc: Any, dbname: str, rate: float, seconds: float, home: Path) -> Any:
    script = home / "workout.sql"
    script.write_text(PGBENCH_SCRIPT)
    return subprocess.Popen(
        [
            str(cdc.PG_BIN / "pgbench"),
            "-n",
            "-h",
            "127.0.0.1",
            "-p",
            str(cdc.pg_port()),
            "-U",
            "postgres",
            "-c",
            "8",
            "-j",
            "2",
            "-R",
            str(rate),
            "-T",
            str(int(seconds)),
            "-f",
            str(script),
            dbname,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


COMMITTED: dict[str, float] = {}
ON_TOPIC: dict[str, float] = {}


class TopicWatch(threading.Thread):
    """When each probe's workout arrives on the workouts topic (a consumer of its own, from
    the end of the topic): splits the freshness into commit -> topic and topic -> WOD."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.partitions = bootstrap, topic, partitions
        self.ready = threading.Event()
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._watch())

    async def _watch(self) -> None:
        consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            parts = [TopicPartition(self.topic, p) for p in range(self.partitions)]
            consumer.assign(parts)
            await consumer.seek_to_end(*parts)
            self.ready.set()
            while not self.stopping.is_set():
                fetched = await consumer.getmany(timeout_ms=100)
                now = time.perf_counter()
                for records in fetched.values():
                    for record in records:
                        if record.key and record.key.startswith(b"probe-"):
                            ON_TOPIC.setdefault(record.key.decode(), now)
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await consumer.stop()


def probe(engine: Any, port: int, user: str, timeout: float) -> float | None:
    """Commit a workout of PROBE_EXERCISES yesterday for `user`; seconds until the WOD
    reflects it (None: not within `timeout`)."""
    token = jwt.encode({"sub": user, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Authorization": f"Bearer {token}"}
    _commit_workout(engine, user, datetime.now(UTC) - timedelta(days=1), list(PROBE_EXERCISES))
    committed = time.perf_counter()
    COMMITTED[user] = committed
    try:
        while time.perf_counter() - committed < timeout:
            conn.request("GET", "/fitness/wod?tz=UTC", headers=headers)
            response = conn.getresponse()
            body = response.read()
            if response.status == 200:
                ids = {e["id"] for e in json.loads(body)["exercises"]}
                if not ids & set(PROBE_EXERCISES):
                    return time.perf_counter() - committed
            time.sleep(0.01)
    finally:
        conn.close()
    return None
