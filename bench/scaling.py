"""How GET /fitness/wod scales: latency against users in the projection and against catalog
size; and the projection's size on disk per million workouts.

Each point is a projection built straight into a SQLite file with the consumer's own batch
application (bench/wod.py's builder): two workouts per user over the last 48 hours, 3 to 6
exercises each. Every point gets its own `coach api` (2 workers), all started at once, and
wrk runs against them in turn, the order rotating every round, twice per point and round:
- loaded: 100 connections, 5,000 tokens of users drawn from the whole projection;
- one connection: the latency of a request that never waits for another.

    .venv/bin/python bench/scaling.py users              # 10k and 100k users, ~1.5 min
    .venv/bin/python bench/scaling.py users --full       # 10k, 100k and 1M users, ~6 min
    .venv/bin/python bench/scaling.py catalog            # 50, 500, 5,000 exercises, ~1.5 min
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import shutil
import sqlite3
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import wod  # noqa: E402
from bench.common import machine_info, save_result  # noqa: E402

WORKOUTS_PER_USER = 2
USERS_DEFAULT = (10_000, 100_000)
USERS_FULL = (10_000, 100_000, 1_000_000)
CATALOG_SIZES = (50, 500, 5_000)
CATALOG_USERS = 20_000
EXERCISES = wod.EXERCISES
WORKERS = 2


@dataclasses.dataclass
class Point:
    label: str
    users: int
    exercises: int
    workouts: int
    build_seconds: float = 0.0
    file_bytes: int = 0
    loaded: list[wod.Run] = dataclasses.field(default_factory=list)
    single: list[wod.Run] = dataclasses.field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        def mean(runs: list[wod.Run], name: str) -> float:
            return statistics.fmean(getattr(r, name) for r in runs)

        return {
            "loaded": {f: mean(self.loaded, f) for f in ("rps", "p50_ms", "p95_ms", "p99_ms")},
            "single": {f: mean(self.single, f) for f in ("rps", "p50_ms", "p95_ms", "p99_ms")},
        }


def file_size(db_path: Path) -> int:
    """The file's bytes once its WAL is checkpointed (what a copy or a backup holds)."""
    conn = sqlite3.connect(db_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db_path.stat().st_size


def measure(points: list[Point], tmpdir: Path, seconds: float, rounds: int) -> None:
    lua = tmpdir / "rotate.lua"
    lua.write_text(wod.LUA)
    dbs, tokens = {}, {}
    for p in points:
        dbs[p.label] = tmpdir / f"{p.label}.db"
        p.build_seconds = wod.build_projection(
            dbs[p.label], exercises=p.exercises, workouts=p.workouts, users=p.users
        )
        p.file_bytes = file_size(dbs[p.label])
        tokens[p.label] = tmpdir / f"{p.label}.tokens"
        wod.write_tokens(tokens[p.label], users=p.users)
        print(
            f"  {p.label}: {p.exercises:,} exercises, {p.workouts:,} workouts of {p.users:,} "
            f"users, built in {p.build_seconds:.1f} s, {p.file_bytes / 1e6:.0f} MB",
            flush=True,
        )
    with contextlib.ExitStack() as stack:
        bases = {
            p.label: stack.enter_context(
                wod.server(dbs[p.label], workers=WORKERS, token_cache=10_000)
            )
            for p in points
        }
        for p in points:  # warm up: caches, the catalog, the token cache
            wod.wrk(bases[p.label], "/fitness/wod", 3, lua, tokens[p.label])
        for round_ in range(rounds):
            shift = round_ % len(points)
            for p in points[shift:] + points[:shift]:
                base, t = bases[p.label], tokens[p.label]
                p.loaded.append(wod.wrk(base, "/fitness/wod", seconds, lua, t))
                p.single.append(
                    wod.wrk(base, "/fitness/wod", seconds / 2, lua, t, connections=1, threads=1)
                )
                loaded, single = p.loaded[-1], p.single[-1]
                print(
                    f"  round {round_ + 1} {p.label:>14}: {loaded.rps:6.0f} req/s p50 "
                    f"{loaded.p50_ms:5.1f} p95 {loaded.p95_ms:5.1f} p99 {loaded.p99_ms:6.1f} ms"
                    f" | one connection p50 {single.p50_ms:5.2f} p99 {single.p99_ms:5.2f} ms",
                    flush=True,
                )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["users", "catalog"])
    parser.add_argument("--full", action="store_true", help="up to 1M users")
    parser.add_argument("--seconds", type=float, default=None, help="length of a loaded run")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    seconds = args.seconds or (8.0 if args.full else 5.0)
    rounds = args.rounds or (3 if args.full else 2)
    info = machine_info()
    if args.what == "users":
        sizes = USERS_FULL if args.full else USERS_DEFAULT
        points = [Point(f"{n:,} users", n, EXERCISES, n * WORKOUTS_PER_USER) for n in sizes]
    else:
        points = [
            Point(f"{n:,} exercises", CATALOG_USERS, n, CATALOG_USERS * WORKOUTS_PER_USER)
            for n in CATALOG_SIZES
        ]
    print(
        f"WOD against {args.what}: {WORKERS} workers per server, wrk {wod.CONNECTIONS} "
        f"connections and 1 connection, {rounds} rounds of {seconds:g} s + {seconds / 2:g} s",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        measure(points, Path(tmp), seconds, rounds)
    first = points[0].summary()
    print()
    for p in points:
        loaded, single = p.summary()["loaded"], p.summary()["single"]
        print(
            f"{p.label:>14}: loaded {loaded['rps']:6.0f} req/s, p50 {loaded['p50_ms']:5.1f} ms "
            f"({loaded['p50_ms'] / first['loaded']['p50_ms']:.2f}x the first), one connection "
            f"p50 {single['p50_ms']:.2f} ms ({single['p50_ms'] / first['single']['p50_ms']:.2f}x); "
            f"{p.file_bytes / p.workouts:.0f} bytes per workout on disk"
        )
    save_result(
        f"scaling_{args.what}",
        {
            "workers": WORKERS,
            "wrk": {
                "connections": wod.CONNECTIONS,
                "threads": wod.THREADS,
                "tokens": wod.TOKENS,
                "seconds": seconds,
                "single_seconds": seconds / 2,
                "rounds": rounds,
            },
            "workouts_per_user": WORKOUTS_PER_USER,
            "points": [
                {
                    "label": p.label,
                    "users": p.users,
                    "exercises": p.exercises,
                    "workouts": p.workouts,
                    "build_seconds": p.build_seconds,
                    "file_bytes": p.file_bytes,
                    "loaded": [dataclasses.asdict(r) for r in p.loaded],
                    "single": [dataclasses.asdict(r) for r in p.single],
                    "summary": p.summary(),
                }
                for p in points
            ],
        },
        info=info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
