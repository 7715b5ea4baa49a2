"""Helpers shared by the benchmarks: a broker, topics, and a realistic event stream."""

from __future__ import annotations

import asyncio
import gc
import importlib.util
import json
import os
import platform
import random
import shlex
import shutil
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from config.settings import Settings
from events import (
    EXERCISE_UPSERTED,
    WORKOUT_COMPLETED,
    WORKOUT_DELETED,
    encode_event,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def bootstrap() -> str:
    """COACH_KAFKA_BOOTSTRAP_SERVERS, else the local broker (started if needed)."""
    configured = os.environ.get("COACH_KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        return configured
    spec = importlib.util.spec_from_file_location("kafka_broker", REPO / "tools/kafka/broker.py")
    assert spec and spec.loader
    broker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(broker)
    return broker.start(quiet=True)


def bench_settings(db_path: Path, *, partitions: int = 3) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap_servers=bootstrap(),
        topic_exercises=f"bench.{suffix}.exercises",
        topic_workouts=f"bench.{suffix}.workouts",
        topic_erasures=f"bench.{suffix}.erasures",
        topic_partitions=partitions,
        db_path=db_path,
        poll_timeout_ms=100,
    )


def settle_heap() -> None:
    """After publishing: free the publisher's garbage and exempt what is left from the
    garbage collector, so that its collections during the measurement scan only what the
    code measured allocates, as in a process of its own (`coach replay`, `coach consume`)."""
    gc.collect()
    gc.freeze()


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def _first_line(path: str, prefix: str) -> str | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(prefix):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """What a figure was measured on, for the report."""
    wrk_version = None
    if shutil.which("wrk"):
        out = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
        wrk_version = out.split("[")[0].strip() or None
    mem_kb = _first_line("/proc/meminfo", "MemTotal")
    return {
        "cpu_model": _first_line("/proc/cpuinfo", "model name") or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gb": round(int(mem_kb.split()[0]) / 1024**2, 1) if mem_kb else None,
        "os": platform.platform(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "wrk": wrk_version,
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def command_line() -> str:
    """This process's command as a person would type it from the repository's root."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = str(script)
    return " ".join([".venv/bin/python", shown, *map(shlex.quote, sys.argv[1:])])


def save_result(
    name: str, data: dict[str, Any], *, results: Path = RESULTS, info: dict[str, Any] | None = None
) -> Path:
    """Write bench/results/NAME.json: the figures, the command and the machine."""
    results.mkdir(parents=True, exist_ok=True)
    path = results / f"{name}.json"
    record = {
        "name": name,
        "command": command_line(),
        "machine": info or machine_info(),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "data": data,
    }
    path.write_text(json.dumps(record, indent=1) + "\n")
    print(f"results written to {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return path


def event_stream(
    *, events: int, users: int, exercises: int = 200, seed: int = 1
) -> Iterator[tuple[str, bytes, bytes]]:
    """(role, key, value): the catalog, then completed workouts of the last two days with
    about 1% redeliveries and 1% deletions, like the monolith's stream."""
    rng = random.Random(seed)
    now = datetime.now(UTC)
    for i in range(1, exercises + 1):
        data = {
            "id": i,
            "name": f"Exercise {i}",
            "description": "Bench exercise.",
            "difficulty": 1 + i % 5,
            "revision": 1,
            "default_weight": 20.0,
            "default_reps": 10,
            "muscle_groups": [
                {
                    "id": 1 + i % 16,
                    "name": f"Group {1 + i % 16}",
                    "body_part": "legs",
                    "is_primary": True,
                    "intensity": 0.8,
                }
            ],
        }
        yield "exercises", str(i).encode(), orjson.dumps(encode_event(EXERCISE_UPSERTED, data))
    sent: list[tuple[str, str, bytes]] = []
    for n in range(max(0, events - exercises)):
        roll = rng.random()
        if sent and roll < 0.01:  # a redelivery
            user, _, value = rng.choice(sent)
            yield "workouts", user.encode(), value
            continue
        if sent and roll < 0.02:
            user, workout_id, _ = rng.choice(sent)
            value = orjson.dumps(
                encode_event(WORKOUT_DELETED, {"workout_id": workout_id, "user_id": user})
            )
            yield "workouts", user.encode(), value
            continue
        user = str(rng.randint(1, users))
        workout_id = f"w-{seed}-{n}"
        at = now - timedelta(seconds=rng.randint(0, 40 * 3600))
        data: dict[str, Any] = {
            "workout_id": workout_id,
            "user_id": user,
            "completed_at": at.isoformat(),
            "exercises": [
                {"exercise_id": rng.randint(1, exercises), "sets": 3, "reps": 8, "weight": 40.0}
                for _ in range(rng.randint(3, 6))
            ],
        }
        value = orjson.dumps(encode_event(WORKOUT_COMPLETED, data))
        if len(sent) < 10_000:
            sent.append((user, workout_id, value))
        yield "workouts", user.encode(), value


async def create_and_fill(settings: Settings, stream: Iterator[tuple[str, bytes, bytes]]) -> int:
    """Create the topics and publish the stream; return the number of records."""
    from coach.kafka_tools import create_topics

    await create_topics(settings)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks=1,
        linger_ms=20,
        max_batch_size=512 * 1024,
        compression_type=None,
    )
    await producer.start()
    count = 0
    try:
        topic = {"exercises": settings.topic_exercises, "workouts": settings.topic_workouts}
        pending = []
        for role, key, value in stream:
            pending.append(await producer.send(topic[role], value=value, key=key))
            count += 1
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return count


async def delete_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap_servers)
    await admin.start()
    try:
        await admin.delete_topics(
            [settings.topic_exercises, settings.topic_workouts, settings.topic_erasures]
        )
    finally:
        await admin.close()
