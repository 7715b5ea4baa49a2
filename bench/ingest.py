"""Ingest benchmark: events per second applied to the projection, against a bare aiokafka
consumer reading and parsing the same records, measured side by side in one run.

    .venv/bin/python bench/ingest.py [--events 500000] [--rounds 2]

The bare reader assigns every partition, reads from the beginning with getmany and parses
each value with orjson: the floor any consumer pays. Both are timed from the moment they
start connecting to the broker to the last record (coach's start-up includes its writer
process, which starts while it connects). coach's consumer (the real Projector)
reads the same records from the beginning into a fresh projection file. Rounds alternate
(bare, coach, bare, coach) so that machine noise hits both.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_settings,
    create_and_fill,
    delete_topics,
    event_stream,
    machine,
    machine_info,
    save_result,
    settle_heap,
)
from config.settings import Settings
from consumer.loop import Projector
from store.db import connect


async def bare_read(settings: Settings, total: int) -> float:
    """Seconds for a bare aiokafka consumer to read and parse `total` records."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=None,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    start = time.perf_counter()  # like coach's figure: from connecting to the last record
    await consumer.start()
    try:
        cluster = await consumer._client.fetch_all_metadata()
        tps = [
            TopicPartition(t, p)
            for t in (settings.topic_exercises, settings.topic_workouts)
            for p in cluster.partitions_for_topic(t)
        ]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=settings.batch_max_records)
            for messages in batch.values():
                for m in messages:
                    orjson.loads(m.value)
                seen += len(messages)
        return time.perf_counter() - start
    finally:
        await consumer.stop()


async def coach_ingest(settings: Settings, total: int, db_path: Path) -> float:
    """Seconds for coach's consumer to apply `total` records to a fresh projection."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)
    conn = connect(db_path)
    projector = Projector(settings.model_copy(update={"db_path": db_path}), conn)
    stop = asyncio.Event()
    task = asyncio.create_task(projector.run(stop))
    start = time.perf_counter()
    while projector.totals.records < total:
        if task.done():
            task.result()
        await asyncio.sleep(0.005)
    elapsed = time.perf_counter() - start
    stop.set()
    await task
    conn.close()
    return elapsed


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=500_000)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    info = machine_info()

    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        db_path = Path(tmp) / "bench.db"
        settings = bench_settings(db_path)
        print(f"ingest benchmark on {machine()}; broker {settings.kafka_bootstrap_servers}")
        t0 = time.perf_counter()
        total = await create_and_fill(settings, event_stream(events=args.events, users=args.users))
        print(f"published {total} records in {time.perf_counter() - t0:.1f}s")
        settle_heap()
        try:
            bare, ours = [], []
            for round_ in range(1, args.rounds + 1):
                bare.append(await bare_read(settings, total))
                ours.append(await coach_ingest(settings, total, db_path))
                print(
                    f"round {round_}: bare read {total / bare[-1]:,.0f} ev/s, "
                    f"coach apply {total / ours[-1]:,.0f} ev/s, ratio {bare[-1] / ours[-1]:.2f}"
                )
        finally:
            await delete_topics(settings)
    best_bare, best_ours = min(bare), min(ours)
    ratio = best_bare / best_ours
    ratios = sorted(b / o for b, o in zip(bare, ours, strict=True))
    median = ratios[len(ratios) // 2]
    print()
    print(f"bare aiokafka read+parse : {total / best_bare:>10,.0f} events/s ({best_bare:.2f}s)")
    print(f"coach consume (applied)  : {total / best_ours:>10,.0f} events/s ({best_ours:.2f}s)")
    print(f"ratio coach/bare, best   : {ratio:.2f}")
    print(f"ratio per round, median  : {median:.2f}  (goal >= 0.50)")
    save_result(
        "ingest",
        {
            "events": total,
            "users": args.users,
            "rounds": [
                {"bare_seconds": b, "coach_seconds": o} for b, o in zip(bare, ours, strict=True)
            ],
            "bare_events_per_second": total / best_bare,
            "coach_events_per_second": total / best_ours,
            "ratio_best": ratio,
            "ratio_median": median,
        },
        info=info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
