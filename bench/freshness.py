"""Freshness: from the monolith's publish to the first WOD that reflects it, under load.

The real processes on the real broker: `coach consume` and `coach api` over topics of their
own, a catalog of 20 exercises, and a steady stream of other users' completed workouts
(`--rate`, 2,000 a second by default, acks=all, in small batches every 10 ms). Meanwhile,
`--probes` times (at least 100), a user nobody has seen completes a workout with every
exercise at a weight no default has; the probe's clock starts when the broker acknowledged
the record (acks=all) and stops at the first GET /fitness/wod of that user whose suggestions
come from that workout. The probe asks every 2 ms from the moment it publishes, as a user
who opens the app right after logging would, so its WOD is held by the api before the
workout lands: what is measured includes the api noticing the change (the status it
re-reads every `COACH_STATUS_CACHE_SECONDS`).

    .venv/bin/python bench/freshness.py                  # 500 probes, about 1 minute
    .venv/bin/python bench/freshness.py --probes 300 --rate 3000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson
from aiokafka import AIOKafkaProducer

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import bench_settings, delete_topics, machine_info, save_result  # noqa: E402
from bench.wod import SECRET, free_port  # noqa: E402
from config.settings import Settings  # noqa: E402
from events import EXERCISE_UPSERTED, WORKOUT_COMPLETED, encode_event  # noqa: E402

EXERCISES = 20
DEFAULT_WEIGHT = 20.0
PROBE_WEIGHT = 137.5


def exercise(i: int) -> dict[str, Any]:
    return encode_event(
        EXERCISE_UPSERTED,
        {
            "id": i,
            "name": f"Exercise {i}",
            "difficulty": 1 + i % 5,
            "revision": 1,
            "default_weight": DEFAULT_WEIGHT,
            "default_reps": 10,
            "muscle_groups": [
                {"id": 1, "name": "Legs", "body_part": "legs", "is_primary": True, "intensity": 1}
            ],
        },
    )


def workout(user: str, n: int, weight: float) -> dict[str, Any]:
    return encode_event(
        WORKOUT_COMPLETED,
        {
            "workout_id": f"w-{user}-{n}",
            "user_id": user,
            "completed_at": (datetime.now(UTC) - timedelta(hours=2)).isoformat(),
            "exercises": [
                {"exercise_id": e, "sets": 3, "reps": 8, "weight": weight}
                for e in range(1, EXERCISES + 1)
            ],
        },
    )


def reflects(body: dict[str, Any]) -> bool:
    return any(e["suggested_weight"] != DEFAULT_WEIGHT for e in body["exercises"])


async def background(
    producer: AIOKafkaProducer, topic: str, rate: int, stop: asyncio.Event
) -> tuple[int, float]:
    """Other users' workouts at `rate` a second, in batches every 10 ms; returns how many,
    and over how many seconds."""
    sent, started = 0, time.monotonic()
    while not stop.is_set():
        due = int((time.monotonic() - started) * rate)
        futures = []
        while sent < due:
            user = f"bg-{sent % 50_000}"
            event = workout(user, sent, 50.0)
            futures.append(await producer.send(topic, orjson.dumps(event), key=user.encode()))
            sent += 1
        if futures:
            await asyncio.gather(*futures)
        await asyncio.sleep(0.01)
    return sent, time.monotonic() - started


class Client:
    """One keep-alive HTTP connection to the api, used from a worker thread."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)

    def _get(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        return response.status, orjson.loads(response.read())

    async def get(self, path: str, headers: dict[str, str]) -> tuple[int, Any]:
        return await asyncio.to_thread(self._get, path, headers)


async def probe(producer: AIOKafkaProducer, client: Client, topic: str) -> float:
    user = f"probe-{uuid.uuid4().hex[:12]}"
    token = jwt.encode({"sub": user, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")
    headers = {"Authorization": f"Bearer {token}"}
    # The user opens the app: a WOD of defaults, now held by the api.
    _, first = await client.get("/fitness/wod", headers)
    assert not reflects(first), first
    await producer.send_and_wait(
        topic, orjson.dumps(workout(user, 0, PROBE_WEIGHT)), key=user.encode()
    )
    acked = time.perf_counter()
    while True:
        _, body = await client.get("/fitness/wod", headers)
        if reflects(body):
            return time.perf_counter() - acked
        if time.perf_counter() - acked > 30:
            raise RuntimeError(f"probe {user}: no WOD reflected it within 30 s")
        await asyncio.sleep(0.002)


async def measure(args: argparse.Namespace, settings: Any, port: int) -> dict[str, Any]:
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        enable_idempotence=True,
        linger_ms=2,
    )
    await producer.start()
    stop = asyncio.Event()
    try:
        for i in range(1, EXERCISES + 1):
            await producer.send_and_wait(
                settings.topic_exercises, orjson.dumps(exercise(i)), key=str(i).encode()
            )
        client = Client(port)
        if True:  # (one block with the stream below)
            token = jwt.encode({"sub": "w", "exp": int(time.time()) + 60}, SECRET, "HS256")
            for _ in range(600):  # the catalog in the api
                with contextlib.suppress(OSError, http.client.HTTPException):
                    status, _ = await client.get(
                        "/fitness/wod", {"Authorization": f"Bearer {token}"}
                    )
                    if status == 200:
                        break
                    client = Client(port)
                await asyncio.sleep(0.1)
            stream = asyncio.create_task(
                background(producer, settings.topic_workouts, args.rate, stop)
            )
            await asyncio.sleep(3)  # the stream settles
            started = time.monotonic()
            seconds = []
            for _ in range(args.probes):
                seconds.append(await probe(producer, client, settings.topic_workouts))
                await asyncio.sleep(0.05)
            elapsed = time.monotonic() - started
            stop.set()
            sent, streamed = await stream
    finally:
        await producer.stop()
    ms = sorted(s * 1000 for s in seconds)
    return {
        "probes": len(ms),
        "background_rate_asked": args.rate,
        "background_sent": sent,
        "background_rate": sent / streamed,
        "probe_seconds": elapsed,
        "p50_ms": statistics.median(ms),
        "p90_ms": ms[int(len(ms) * 0.9)],
        "p99_ms": ms[min(len(ms) - 1, int(len(ms) * 0.99))],
        "max_ms": ms[-1],
        "all_ms": ms,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--probes", type=int, default=500)
    parser.add_argument("--rate", type=int, default=2000, help="background workouts a second")
    parser.add_argument(
        "--status-cache-seconds",
        type=float,
        default=None,
        help="COACH_STATUS_CACHE_SECONDS of the api (default: the setting's default)",
    )
    args = parser.parse_args()
    info = machine_info()
    import subprocess

    from bench.wod import running

    with tempfile.TemporaryDirectory(prefix="coach-fresh-") as tmp:
        settings = bench_settings(Path(tmp) / "coach.db")
        env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
        env.update(
            COACH_KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
            COACH_TOPIC_EXERCISES=settings.topic_exercises,
            COACH_TOPIC_WORKOUTS=settings.topic_workouts,
            COACH_DB_PATH=str(settings.db_path),
            COACH_JWT_SECRET=SECRET,
        )
        if args.status_cache_seconds is not None:
            env["COACH_STATUS_CACHE_SECONDS"] = str(args.status_cache_seconds)
        coach = str(REPO / ".venv/bin/coach")
        subprocess.run([coach, "topics", "create"], env=env, check=True, capture_output=True)
        consumer = subprocess.Popen(
            [coach, "consume"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        port = free_port()
        try:
            for _ in range(100):  # the projection file exists once the consumer started
                if settings.db_path.exists():
                    break
                time.sleep(0.1)
            api = [coach, "api", "--port", str(port)]
            with running(api, env=env, port=port, name="api"):
                result = asyncio.run(measure(args, settings, port))
        finally:
            consumer.terminate()
            consumer.wait(30)
            asyncio.run(delete_topics(settings))
    result["status_cache_seconds"] = (
        args.status_cache_seconds
        if args.status_cache_seconds is not None
        else Settings.model_fields["status_cache_seconds"].default
    )
    print(
        f"publish (acks=all) to the first WOD that reflects it, {result['probes']} probes, "
        f"{result['background_rate']:.0f} other workouts a second "
        f"in the background:"
    )
    print(
        f"  p50 {result['p50_ms']:.1f} ms  p90 {result['p90_ms']:.1f} ms  "
        f"p99 {result['p99_ms']:.1f} ms  max {result['max_ms']:.1f} ms  (goal: p99 < 100 ms) "
        f"{'OK' if result['p99_ms'] < 100 else 'MISSED'}"
    )
    save_result("freshness", result, info=info)
    print(json.dumps({k: v for k, v in result.items() if k != "all_ms"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
