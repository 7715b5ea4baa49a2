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
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.common import machine_info, save_result  # noqa: E402
from consumer.commit import commit_records  # noqa: E402
from consumer.handlers import Context  # noqa: E402
from consumer.records import Record  # noqa: E402
from events import EXERCISE_UPSERTED, WORKOUT_COMPLETED, encode_event  # noqa: E402
from store.db import connect  # noqa: E402
from store.instants import now_us  # noqa: E402

SECRET = "bench-secret-" + "b" * 40
EXERCISES = 200
WORKOUTS = 100_000
USERS = 50_000
TOKENS = 5_000
CONNECTIONS = 100
THREADS = 2
SEED_BOUND_SECONDS = 5.0
ZONES = ["Europe/Berlin", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
ROLES = {"ex": "exercises", "wo": "workouts"}

LUA = r"""
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  -- each thread starts at its own place in the list
  i = (id * 2503) % #tokens
end

function request()
  i = i + 1
  if i > #tokens then i = 1 end
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. tokens[i]})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, ' ..
    '"max_us": %d, "non2xx": %d, "socket_errors": %d, "bytes": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), latency.max, e.status, e.connect + e.read + e.write + e.timeout,
    summary.bytes))
end
"""


# -- the projection ------------------------------------------------------------------------------


def catalog_events(rng: random.Random, exercises: int = EXERCISES) -> Iterator[dict[str, Any]]:
    groups = [
        (g, f"Muscle group {g}", ["legs", "back", "chest", "arms", "core"][g % 5])
        for g in range(1, 17)
    ]
    for i in range(1, exercises + 1):
        picked = rng.sample(groups, rng.randint(2, 4))
        yield encode_event(
            EXERCISE_UPSERTED,
            {
                "id": i,
                "name": f"Exercise number {i}",
                "description": "Keep the back flat, brace the core, move through the full "
                f"range of motion under control (variant {i}).",
                "difficulty": 1 + i % 5,
                "revision": 1,
                "default_weight": float(5 * (i % 20)),
                "default_reps": 6 + i % 10,
                "muscle_groups": [
                    {
                        "id": g,
                        "name": name,
                        "body_part": part,
                        "is_primary": n == 0,
                        "intensity": round(0.9 - 0.2 * n, 2),
                    }
                    for n, (g, name, part) in enumerate(picked)
                ],
            },
        )


def workout_events(
    rng: random.Random,
    now: datetime,
    *,
    exercises: int = EXERCISES,
    workouts: int = WORKOUTS,
    users: int = USERS,
) -> Iterator[dict[str, Any]]:
    for n in range(workouts):
        yield encode_event(
            WORKOUT_COMPLETED,
            {
                "workout_id": f"bench-{n}",
                "user_id": str(rng.randint(1, users)),
                "completed_at": (now - timedelta(seconds=rng.randint(60, 48 * 3600))).isoformat(),
                "exercises": [
                    {
                        "exercise_id": e,
                        "sets": 3,
                        "reps": rng.randint(3, 12),
                        "weight": float(rng.randint(0, 60)) * 2.5,
                    }
                    for e in rng.sample(range(1, exercises + 1), rng.randint(3, 6))
                ],
            },
            time=now,
            event_id=f"bench-{n}",
        )


def build_projection(
    db_path: Path,
    *,
    exercises: int = EXERCISES,
    workouts: int = WORKOUTS,
    users: int = USERS,
) -> float:
    """Apply the catalog and the workouts as the consumer would; return the seconds taken."""
    started = time.perf_counter()
    rng = random.Random(7)
    now = datetime.now(UTC)
    conn = connect(db_path)
    offsets = {"ex": 0, "wo": 0}

    def apply(topic: str, events: list[dict[str, Any]]) -> None:
        records = []
        for event in events:
            key = str(event["data"].get("id", event["data"].get("user_id"))).encode()
            records.append(Record(topic, 0, offsets[topic], key, orjson.dumps(event)))
            offsets[topic] += 1
        current = now_us()
        commit_records(conn, records, roles=ROLES, ctx=Context(now_us=current))

    apply("ex", list(catalog_events(rng, exercises)))
    batch: list[dict[str, Any]] = []
    for event in workout_events(rng, now, exercises=exercises, workouts=workouts, users=users):
        batch.append(event)
        if len(batch) == 5000:
            apply("wo", batch)
            batch = []
    if batch:
        apply("wo", batch)
    # A caught-up consumer's status, as its heartbeat would leave it.
    conn.execute("UPDATE partitions SET high_watermark = next_offset")
    conn.execute(
        "UPDATE consumer_status SET heartbeat_at_us = ?, broker_reachable = 1", (now_us(),)
    )
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - started


def write_tokens(path: Path, *, users: int = USERS, count: int = TOKENS) -> None:
    rng = random.Random(11)
    exp = int(time.time()) + 4 * 3600
    lines = []
    for user in rng.sample(range(1, users + 1), min(count, users)):
        claims: dict[str, Any] = {"sub": str(user), "exp": exp, "iat": int(time.time())}
        if user % 4 == 0:
            claims["zoneinfo"] = ZONES[user % len(ZONES)]
        lines.append(jwt.encode(claims, SECRET, algorithm="HS256"))
    path.write_text("\n".join(lines) + "\n")


def token_micro_benchmark(tokens: Path) -> str:
    """Verifying a token with PyJWT, and finding it in the cache, in this process."""
    import timeit

    from api.auth import TokenVerifier
    from api.tokencache import CachedVerifier

    all_tokens = tokens.read_text().split()
    verifier = TokenVerifier(key=SECRET.encode(), algorithms=("HS256",))
    cached = CachedVerifier(verifier, 10_000)
    for token in all_tokens:
        cached.verify(token)
    n = len(all_tokens)

    def verify_all() -> None:
        for token in all_tokens:
            verifier.verify(token)

    def hit_all() -> None:
        for token in all_tokens:
            cached.verify(token)

    verify = min(timeit.repeat(verify_all, number=1, repeat=5)) / n * 1e6
    hit = min(timeit.repeat(hit_all, number=1, repeat=5)) / n * 1e6
    return f"PyJWT HS256 verification {verify:.1f} us per token, cache hit {hit:.1f} us"


# -- the server and wrk ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(
    db_path: Path,
    *,
    workers: int,
    token_cache: int,
    wod_cache: int | None = None,
    pids: list[int] | None = None,
) -> Iterator[str]:
    """`coach api` over `db_path` on a free port; yields its base url once /health answers
    (and appends the process id to `pids` when given)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(
        COACH_DB_PATH=str(db_path),
        COACH_JWT_SECRET=SECRET,
        COACH_BENCH_CEILING="1",
        COACH_JWT_CACHE_SIZE=str(token_cache),
    )
    if wod_cache is not None:
        env["COACH_WOD_CACHE_SIZE"] = str(wod_cache)
    argv = [str(REPO / ".venv/bin/coach"), "api", "--port", str(port), "--workers", str(workers)]
    with running(argv, env=env, port=port, name="coach api") as (base, pid):
        if pids is not None:
            pids.append(pid)
        yield base


@contextlib.contextmanager
def running(
    argv: list[str], *, env: dict[str, str], port: int, name: str, cwd: Path | None = None
) -> Iterator[tuple[str, int]]:
    """Start a server process; yield (base url, pid) once its /health answers 200; stop it
    (SIGTERM, then SIGKILL after 10 s) on the way out."""
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(base + "/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start: {process.stderr.read().decode()}")  # type: ignore[union-attr]
            time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Run:
    path: str
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    requests: int
    bytes_per_response: float
    non2xx: int = 0
    socket_errors: int = 0


def wrk(
    base: str,
    path: str,
    seconds: float,
    lua: Path,
    tokens: Path,
    *,
    connections: int = CONNECTIONS,
    threads: int = THREADS,
    allow_errors: bool = False,
) -> Run:
    """One wrk run; raises on any error response unless `allow_errors` (then counted)."""
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(min(threads, connections)),
            "-c",
            str(connections),
            "-d",
            f"{round(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            base + path,
        ],
        env={**os.environ, "BENCH_TOKENS": str(tokens)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    r = json.loads(line[len("RESULT ") :])
    if (r["non2xx"] or r["socket_errors"]) and not allow_errors:
        raise RuntimeError(
            f"{path}: {r['non2xx']} error responses, {r['socket_errors']} socket errors\n{out}"
        )
    return Run(
        path,
        r["requests"] / (r["duration_us"] / 1e6),
        r["p50_us"] / 1000,
        r["p95_us"] / 1000,
        r["p99_us"] / 1000,
        r["requests"],
        r["bytes"] / max(1, r["requests"]),
        r["non2xx"],
        r["socket_errors"],
    )


@dataclass
class Pair:
    ceiling: list[Run]
    wod: list[Run]

    @staticmethod
    def mean(runs: list[Run], field: str) -> float:
        return statistics.fmean(getattr(r, field) for r in runs)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ceiling": [dataclasses.asdict(r) for r in self.ceiling],
            "wod": [dataclasses.asdict(r) for r in self.wod],
        }

    def line(self, label: str) -> str:
        c_rps, w_rps = self.mean(self.ceiling, "rps"), self.mean(self.wod, "rps")
        c99, w99 = self.mean(self.ceiling, "p99_ms"), self.mean(self.wod, "p99_ms")
        return (
            f"{label:<22} ceiling {c_rps:7.0f} req/s p99 {c99:6.1f} ms | "
            f"wod {w_rps:7.0f} req/s p99 {w99:6.1f} ms | "
            f"throughput {w_rps / c_rps:4.2f}  p99 {w99 / c99:4.2f}x"
        )


def compare(base: str, seconds: float, rounds: int, lua: Path, tokens: Path) -> Pair:
    """Warm up both, then alternate ceiling and WOD runs `rounds` times."""
    wrk(base, "/bench/ceiling", 2, lua, tokens)
    wrk(base, "/fitness/wod", 2, lua, tokens)
    pair = Pair([], [])
    for _ in range(rounds):
        pair.ceiling.append(wrk(base, "/bench/ceiling", seconds, lua, tokens))
        pair.wod.append(wrk(base, "/fitness/wod", seconds, lua, tokens))
    return pair


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
