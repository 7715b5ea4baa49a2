"""Replay benchmark: the time `coach replay` takes to rebuild a projection from the topics,
against the time a bare aiokafka consumer takes to read and parse the same records, side by
side in one run.

    .venv/bin/python bench/replay.py [--events 1000000] [--rounds 2]

The rebuild (the goal's figure) is timed from start to finish as `coach replay --into PATH`
runs it: read both topics from the earliest offsets, decode every record and commit it
through the writer process, fold workouts older than the window, SQLite's quick check,
checkpoint. Rounds alternate (bare, rebuild, bare, rebuild) so that machine noise hits both.

Then, once, the whole `coach replay` beside a live projection (the last rebuilt file, made
the live generation): online copy of the live file, rebuild up to its offsets, the full
integrity check, folding and comparing both (table checksums, 1,000 users' answers), swap.
What it adds to the rebuild depends on the size of the live file, not on the events.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
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
    machine,
    machine_info,
    save_result,
    settle_heap,
)
from bench.ingest import bare_read
from config.settings import Settings
from replay.progress import LogProgress
from replay.run import Options, replay
from store import files


async def timed_replay(settings: Settings, into: Path) -> tuple[float, int]:
    files.remove(into)
    start = time.perf_counter()
    outcome = await replay(settings, Options(into=into), LogProgress(every=3600))
    return time.perf_counter() - start, outcome.records


async def timed_full_replay(settings: Settings, built: Path) -> float:
    """`coach replay` with a live projection: `built` becomes its current generation."""
    live = Path(settings.db_path)
    generation = files.new_generation(live)
    built.rename(generation)
    live.symlink_to(generation.name)
    start = time.perf_counter()
    outcome = await replay(settings, Options(), LogProgress(every=3600))
    seconds = time.perf_counter() - start
    assert outcome.comparison is not None and outcome.comparison.equal, outcome.comparison
    assert outcome.swapped is not None, outcome.notes
    return seconds


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    info = machine_info()

    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        settings = bench_settings(Path(tmp) / "live.db")
        into = Path(tmp) / "rebuilt.db"
        print(f"replay benchmark on {machine()}; broker {settings.kafka_bootstrap_servers}")
        t0 = time.perf_counter()
        total = await create_and_fill(settings, event_stream(events=args.events, users=args.users))
        print(f"published {total:,} records in {time.perf_counter() - t0:.1f}s")
        settle_heap()
        try:
            bare, ours = [], []
            for round_ in range(1, args.rounds + 1):
                bare.append(await bare_read(settings, total))
                seconds, records = await timed_replay(settings, into)
                assert records == total, f"the replay read {records} of {total} records"
                ours.append(seconds)
                print(
                    f"round {round_}: bare read {bare[-1]:.2f}s, replay {ours[-1]:.2f}s, "
                    f"replay/bare {ours[-1] / bare[-1]:.2f}"
                )
            size = into.stat().st_size
            full = await timed_full_replay(settings, into)
            print(f"full replay beside the live projection: {full:.2f}s")
        finally:
            await delete_topics(settings)
    ratios = [o / b for o, b in zip(ours, bare, strict=True)]
    best = min(ratios)
    median = sorted(ratios)[len(ratios) // 2]
    print()
    print(f"records                   : {total:,}")
    print(f"bare aiokafka read+parse  : {min(bare):.2f} s ({total / min(bare):,.0f} ev/s)")
    print(f"coach rebuild (--into)    : {min(ours):.2f} s ({total / min(ours):,.0f} ev/s)")
    print(f"rebuilt file              : {size / 1e6:.1f} MB")
    print(f"replay/bare per round     : {', '.join(f'{r:.2f}' for r in ratios)}")
    print(f"replay/bare (best round)  : {best:.2f}  (goal <= 2.00)")
    print(f"replay/bare (median)      : {median:.2f}")
    print(f"full replay (check, swap) : {full:.2f} s, {full / min(bare):.2f}x the best bare read")
    save_result(
        "replay",
        {
            "events": total,
            "users": args.users,
            "rounds": [
                {"bare_seconds": b, "replay_seconds": o} for b, o in zip(bare, ours, strict=True)
            ],
            "ratio_best": best,
            "ratio_median": median,
            "rebuilt_mb": size / 1e6,
            "full_replay_seconds": full,
        },
        info=info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
