"""Ingest rate against batch size (COACH_BATCH_MAX_RECORDS), on the real broker.

Publishes one stream (bench/common.py's: the catalog, then completed workouts of the last
40 hours with about 1% redeliveries and 1% deletions) to fresh topics, then has coach's
consumer (the real Projector) apply all of it into a fresh projection file once per batch
size, the order rotating every round; a bare aiokafka read of the same records (as in
bench/ingest.py) runs in every round as the reference for the machine's state.

    .venv/bin/python bench/ingest_batch.py                  # 100,000 events, ~1.5 min
    .venv/bin/python bench/ingest_batch.py --full           # 500,000 events, ~6 min
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_settings,
    create_and_fill,
    delete_topics,
    event_stream,
    machine_info,
    save_result,
)
from bench.ingest import bare_read, coach_ingest

SIZES = (100, 1_000, 5_000, 20_000, 100_000)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="500,000 events, 3 rounds")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--users", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    events = args.events or (500_000 if args.full else 100_000)
    rounds = args.rounds or (3 if args.full else 2)
    info = machine_info()
    seconds: dict[int, list[float]] = {size: [] for size in SIZES}
    bare: list[float] = []
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        db_path = Path(tmp) / "bench.db"
        settings = bench_settings(db_path)
        print(f"ingest against batch size; broker {settings.kafka_bootstrap_servers}")
        t0 = time.perf_counter()
        total = await create_and_fill(settings, event_stream(events=events, users=args.users))
        print(f"published {total:,} records in {time.perf_counter() - t0:.1f} s", flush=True)
        sizes = list(SIZES)
        try:
            for round_ in range(rounds):
                bare.append(await bare_read(settings, total))
                line = [f"round {round_ + 1}: bare {total / bare[-1]:,.0f} ev/s"]
                shift = round_ % len(sizes)
                for size in sizes[shift:] + sizes[:shift]:
                    sized = settings.model_copy(update={"batch_max_records": size})
                    seconds[size].append(await coach_ingest(sized, total, db_path))
                    line.append(f"{size:,}: {total / seconds[size][-1]:,.0f}")
                print(", ".join(line) + " ev/s", flush=True)
        finally:
            await delete_topics(settings)
    print()
    best_bare = min(bare)
    rows = []
    for size in SIZES:
        best, median = min(seconds[size]), statistics.median(seconds[size])
        rows.append(
            {
                "batch_max_records": size,
                "seconds": seconds[size],
                "best_events_per_second": total / best,
                "median_events_per_second": total / median,
                "best_ratio_to_bare": best_bare / best,
            }
        )
        print(
            f"COACH_BATCH_MAX_RECORDS={size:>7,}: best {total / best:8,.0f} ev/s, median "
            f"{total / median:8,.0f} ev/s, {best_bare / best:.2f} of the bare read"
        )
    print(f"bare aiokafka read+parse: best {total / best_bare:,.0f} ev/s")
    save_result(
        "ingest_batch",
        {
            "events": total,
            "users": args.users,
            "rounds": rounds,
            "bare_seconds": bare,
            "bare_best_events_per_second": total / best_bare,
            "sizes": rows,
        },
        info=info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
