"""Freshness through change data capture: from a workout's commit in the monolith's
PostgreSQL to the first WOD of coach that reflects it, under a steady load of workouts.

    .venv/bin/python bench/cdc_freshness.py [--rate 550] [--seconds 30] [--status-cache 0.05]

1. A PostgreSQL database of its own (tools/cdc/cdc.py's cluster), the stand-in monolith's
   tables and the outbox; a Kafka Connect worker of its own with Debezium's connector
   (poll.interval.ms=20) to topics of their own; coach as deployed, `coach consume` and
   `coach api`.
2. A catalog of 8 exercises. pgbench commits `--rate` workouts a second (8 connections;
   each workout, its exercise and its outbox event in one statement, so one transaction)
   for 20,000 background users: a load that leaves the cores to the system under test.
3. Ten probes a second: a new user commits a workout yesterday of exercises 1-3; the probe
   polls that user's WOD (every 10 ms) until it holds none of them. The time from the
   commit's return to that answer is the freshness.

Writes bench/results/cdc_freshness.json: p50, p90, p99 and max of the freshness, the rate
of workouts reached, and the probes that never saw their workout (should be none).

The load, the probe and the topic's watch are in bench/cdc_load.py; this file sets up,
runs and reports.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cdc_load import (
    CATALOG,
    COMMITTED,
    ON_TOPIC,
    SECRET,
    TopicWatch,
    _answers,
    _dead_letters,
    _free_port,
    _load_cdc,
    _percentile,
    _pgbench,
    _tps,
    probe,
)
from bench.common import REPO, bench_settings, machine_info, save_result
from deploy.monolith import models


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=550, help="workouts a second (background)")
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
    url = f"postgresql+psycopg://postgres@127.0.0.1:{cdc.pg_port()}/{dbname}"
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
    coach = str(REPO / ".venv/bin/coach")
    consumer = subprocess.Popen([coach, "consume"], env=env, stdout=log, stderr=subprocess.STDOUT)
    service = subprocess.Popen(
        [coach, "api", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
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
        while not _answers(port):
            if time.monotonic() > deadline or service.poll() is not None:
                raise SystemExit(f"coach did not start; see {home / 'coach.log'}")
            time.sleep(0.2)
        while probe(engine, port, f"warmup-{uuid.uuid4().hex[:6]}", 30) is None:
            if time.monotonic() > deadline:
                raise SystemExit(f"coach never reflected a workout; see {home / 'coach.log'}")
        watch = TopicWatch(
            settings.kafka_bootstrap_servers, settings.topic_workouts, settings.topic_partitions
        )
        watch.start()
        watch.ready.wait(30)
        load = _pgbench(cdc, dbname, args.rate, args.seconds + 6, home)
        time.sleep(3)  # the load reaches its pace
        lock = threading.Lock()
        threads = []

        def one(user: str) -> None:
            nonlocal missed
            took = probe(engine, port, user, 10)
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
        watch.stopping.set()
        watch.join(10)
        report = load.communicate(timeout=120)[0]
        rate = _tps(report)
        dead = _dead_letters(settings.db_path)
    finally:
        for process in (service, consumer):
            process.terminate()
            process.wait(30)
        log.close()
        cdc.stop_connect(home / "connect", quiet=True)
        engine.dispose()
        cdc.drop_database(dbname, slot=connector["slot.name"])

    ms = [r * 1000 for r in results]
    to_topic = [
        (ON_TOPIC[u] - COMMITTED[u]) * 1000 for u in COMMITTED if u in ON_TOPIC and "probe-" in u
    ]
    data = {
        "target_rate": args.rate,
        "rate": round(rate, 1),
        "probes": len(results) + missed,
        "missed": missed,
        "dead_letters": dead,
        "status_cache_seconds": args.status_cache,
        "p50_ms": round(statistics.median(ms), 1),
        "p90_ms": round(_percentile(ms, 0.90), 1),
        "p99_ms": round(_percentile(ms, 0.99), 1),
        "max_ms": round(max(ms), 1),
        "commit_to_topic_p50_ms": round(statistics.median(to_topic), 1) if to_topic else None,
        "commit_to_topic_p99_ms": round(_percentile(to_topic, 0.99), 1) if to_topic else None,
    }
    print(
        f"commit -> WOD under {data['rate']:.0f} workouts/s: p50 {data['p50_ms']} ms, "
        f"p90 {data['p90_ms']} ms, p99 {data['p99_ms']} ms, max {data['max_ms']} ms "
        f"({data['probes']} probes, {missed} missed); commit -> topic p50 "
        f"{data['commit_to_topic_p50_ms']} ms, p99 {data['commit_to_topic_p99_ms']} ms"
    )
    save_result("cdc_freshness", data, info=machine_info())
    return 0 if not missed and not dead else 1


if __name__ == "__main__":
    sys.exit(main())
