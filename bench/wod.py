"""Benchmark of GET /fitness/wod against its ceiling, on one machine.

The ceiling is GET /bench/ceiling: the same server, the same settings and middleware, the
same bearer check, then a fixed body of a WOD's size. The ratio of the two is what choosing
and rendering the WOD costs on top of serving an authenticated request at all.

1. Builds a projection of 200 exercises and 100,000 workouts of 50,000 users (completed over
   the last 48 hours, so "yesterday" finds rows) in a temporary SQLite file, with the
   consumer's own batch application.
2. Signs 5,000 tokens of distinct users (a quarter with a `zoneinfo` claim).
3. Starts `coach api` with COACH_BENCH_CEILING=1 and runs wrk (100 connections, 2 threads,
   a Lua script that rotates through the tokens), alternating ceiling and WOD runs.
4. Prints throughput and p50/p95/p99 of both and the ratios, for 1 and 2 workers and with
   the token cache on and off, then the main comparison with the best worker count.

    .venv/bin/python bench/wod.py            # about 4 minutes
    .venv/bin/python bench/wod.py --quick    # about 1 minute, noisier

The projection and the tokens are made by bench/wod_data.py, the server and wrk run by
bench/wod_wrk.py; this file compares and reports (and re-exports their names).
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine_info, save_result  # noqa: E402
from bench.wod_data import (  # noqa: E402
    EXERCISES,
    SECRET,
    TOKENS,
    USERS,
    WORKOUTS,
    build_projection,
    token_micro_benchmark,
    write_tokens,
)
from bench.wod_wrk import (  # noqa: E402
    CONNECTIONS,
    LUA,
    SEED_BOUND_SECONDS,
    THREADS,
    Pair,
    Run,
    compare,
    free_port,
    running,
    server,
    wrk,
)

# bench/tail.py, bench/adr.py and the other WOD benchmarks import these from here.
__all__ = [
    "CONNECTIONS", "EXERCISES", "LUA", "SECRET", "SEED_BOUND_SECONDS", "THREADS", "TOKENS",
    "USERS", "WORKOUTS", "Pair", "Run", "build_projection", "compare", "free_port", "main",
    "running", "server", "write_tokens", "wrk",
]  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short runs (noisier)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="skip the 1-vs-2 comparison and use this many workers",
    )
    parser.add_argument("--seconds", type=float, default=None, help="length of each main run")
    parser.add_argument(
        "--wod-cache-size",
        type=int,
        default=None,
        help="COACH_WOD_CACHE_SIZE of the servers (default: the setting's default)",
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    probe_seconds = 3.0 if args.quick else 8.0
    main_seconds = args.seconds or (5.0 if args.quick else 15.0)

    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; wrk shares the cores with the server"
    )
    info = machine_info()
    result: dict[str, Any] = {
        "projection": {"exercises": EXERCISES, "workouts": WORKOUTS, "users": USERS},
        "wrk": {"connections": CONNECTIONS, "threads": THREADS, "tokens": TOKENS},
    }
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        tmpdir = Path(tmp)
        db_path, tokens, lua = tmpdir / "coach.db", tmpdir / "tokens.txt", tmpdir / "rotate.lua"
        built = build_projection(db_path)
        print(
            f"projection: {EXERCISES} exercises, {WORKOUTS:,} workouts of {USERS:,} users "
            f"built in {built:.1f} s ({db_path.stat().st_size / 1e6:.0f} MB)"
        )
        write_tokens(tokens)
        lua.write_text(LUA)
        micro = token_micro_benchmark(tokens)
        result["token_micro"] = micro
        print("token cache, in process: " + micro)
        print(
            f"wrk: {CONNECTIONS} connections, {THREADS} threads, {TOKENS:,} tokens of distinct "
            f"users in rotation"
        )
        print()

        workers = args.workers
        if workers is None:
            print(f"workers ({probe_seconds:g} s per run, token cache on):")
            by_workers = {}
            for n in (1, 2):
                with server(
                    db_path, workers=n, token_cache=10_000, wod_cache=args.wod_cache_size
                ) as base:
                    by_workers[n] = compare(base, probe_seconds, 1, lua, tokens)
                print("  " + by_workers[n].line(f"{n} worker{'s' if n > 1 else ''}"))
            workers = max(by_workers, key=lambda n: Pair.mean(by_workers[n].wod, "rps"))
            result["workers_probe"] = {
                str(n): p.as_dict() | {"seconds": probe_seconds} for n, p in by_workers.items()
            }
            print(f"  -> {workers} worker{'s' if workers > 1 else ''} (best WOD throughput)")
            print()

        print(f"token cache ({probe_seconds:g} s per run, {workers} worker(s)):")
        result["token_cache_probe"] = {}
        for size, label in ((0, "off"), (10_000, "on (10,000)")):
            with server(
                db_path, workers=workers, token_cache=size, wod_cache=args.wod_cache_size
            ) as base:
                probe = compare(base, probe_seconds, 1, lua, tokens)
                print("  " + probe.line(f"cache {label}"))
            result["token_cache_probe"][str(size)] = probe.as_dict() | {"seconds": probe_seconds}
        print()

        print(
            f"main: {workers} worker(s), token cache on, WOD cache "
            f"{'default' if args.wod_cache_size is None else args.wod_cache_size}, "
            f"{main_seconds:g} s per run, ceiling and WOD alternated twice"
        )
        with server(
            db_path, workers=workers, token_cache=10_000, wod_cache=args.wod_cache_size
        ) as base:
            pair = compare(base, main_seconds, 2, lua, tokens)
        for r in (r for both in zip(pair.ceiling, pair.wod, strict=True) for r in both):
            name = "ceiling" if r.path == "/bench/ceiling" else "wod"
            print(
                f"  {name:<8} {r.rps:7.0f} req/s  p50 {r.p50_ms:6.1f}  p95 {r.p95_ms:6.1f}"
                f"  p99 {r.p99_ms:6.1f} ms  ({r.requests:,} requests, "
                f"{r.bytes_per_response:.0f} bytes each)"
            )
        c_rps, w_rps = Pair.mean(pair.ceiling, "rps"), Pair.mean(pair.wod, "rps")
        c99, w99 = Pair.mean(pair.ceiling, "p99_ms"), Pair.mean(pair.wod, "p99_ms")
        w95 = Pair.mean(pair.wod, "p95_ms")
        print()
        print(
            f"  throughput ratio wod/ceiling: {w_rps / c_rps:.3f}  (goal >= 0.9) "
            f"{'OK' if w_rps / c_rps >= 0.9 else 'MISSED'}"
        )
        print(
            f"  p99 ratio wod/ceiling:        {w99 / c99:.3f}  (goal <= 1.5) "
            f"{'OK' if w99 / c99 <= 1.5 else 'MISSED'}"
        )
        print(
            f"  WOD p95 at {CONNECTIONS} concurrent users: {w95:.1f} ms "
            f"(the seed's bound: {SEED_BOUND_SECONDS:g} s)"
        )
    result["main"] = pair.as_dict() | {"workers": workers, "seconds": main_seconds}
    result["ratios"] = {"throughput": w_rps / c_rps, "p99": w99 / c99, "wod_p95_ms": w95}
    save_result("wod", result, info=info)
    return 0


if __name__ == "__main__":
    sys.exit(main())
