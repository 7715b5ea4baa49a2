"""The load test of GET /fitness/wod through nginx, on this machine (`make loadtest`).

Starts a local stack on loopback addresses only, with no Kafka and no Docker:
1. a projection built in a temporary SQLite file with the consumer's own batch application
   (coach's demo catalog of 48 exercises and three days of workouts of --demo-users users);
2. `coach api --workers 2` on it;
3. the legacy stand-in (deploy/legacy/app.py, 0.3 to 1.5 s per WOD, like the monolith);
4. nginx with deploy/nginx/coach.conf.template, rendered by render.sh for each percentage.

Then, for each --percent, Locust (deploy/loadtest/locustfile.py) runs --users concurrent
users for --duration, each request with the token of another of --tokens users. It prints
p50/p95/p99, throughput and the error rate as the clients saw them (statistics reset once
all users are running), and, from nginx's access log, who answered and their latencies.
It exits 1 when any run misses the ADR's criteria: p95 < 5 s and errors < 1 %.

    .venv/bin/python deploy/loadtest/run.py                    # 100 % then 50 %, 60 s each
    .venv/bin/python deploy/loadtest/run.py --percent 10 --duration 30s
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stack import (
    BIN,
    REPO,
    SECRET,
    Processes,
    build_projection,
    find_program,
    free_port,
    nginx_for,
    say,
    wait_http,
    write_tokens,
)

P95_LIMIT_MS = 5000.0
ERROR_LIMIT = 0.01


# -- a run ----------------------------------------------------------------------------------


@dataclass
class Result:
    percent: int
    requests: int
    failures: int
    rps: float
    p50: float
    p95: float
    p99: float
    answered_by: dict[str, int]
    side_latency: dict[str, tuple[float, float, float]]
    failure_kinds: list[str]

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 1.0

    @property
    def passed(self) -> bool:
        return self.requests > 0 and self.p95 < P95_LIMIT_MS and self.error_rate < ERROR_LIMIT


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def read_access_log(path: Path, since_line: int) -> tuple[dict[str, int], dict[str, Any]]:
    """Who answered /fitness/wod (served_by) and nginx's request_time per answerer (ms)."""
    counts: dict[str, int] = {}
    times: dict[str, list[float]] = {}
    lines = path.read_text(errors="replace").splitlines()[since_line:]
    for line in lines:
        if '"GET /fitness/wod' not in line:
            continue
        served = re.search(r" served_by=(\S+)", line)
        took = re.search(r" request_time=([\d.]+)", line)
        if not served or not took:
            continue
        key = served.group(1)
        counts[key] = counts.get(key, 0) + 1
        times.setdefault(key, []).append(float(took.group(1)) * 1000)
    latency = {
        k: (percentile(v, 50), percentile(v, 95), percentile(v, 99)) for k, v in times.items()
    }
    return counts, latency


def run_locust(
    args: argparse.Namespace, root: Path, port: int, tokens: Path, percent: int
) -> dict[str, str]:
    prefix = root / f"locust-{percent}"
    env = {**os.environ, "LOADTEST_TOKENS": str(tokens)}
    command = [
        str(BIN / "locust"),
        "-f",
        str(REPO / "deploy/loadtest/locustfile.py"),
        "--headless",
        "--users",
        str(args.users),
        "--spawn-rate",
        str(args.spawn_rate),
        "--run-time",
        args.duration,
        "--host",
        f"http://127.0.0.1:{port}",
        "--csv",
        str(prefix),
        "--reset-stats",
        "--only-summary",
        "--stop-timeout",
        "10",
        "--exit-code-on-error",
        "0",
        "--loglevel",
        "WARNING",
    ]
    with open(root / f"locust-{percent}.out", "wb") as out:
        done = subprocess.run(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        text = (root / f"locust-{percent}.out").read_text(errors="replace")
        sys.exit(f"loadtest: locust exited {done.returncode}:\n{text[-3000:]}")
    with open(f"{prefix}_stats.csv", newline="") as f:
        rows = {row["Name"]: row for row in csv.DictReader(f)}
    return rows["Aggregated"]


def failure_kinds(root: Path, percent: int) -> list[str]:
    path = root / f"locust-{percent}_failures.csv"
    if not path.exists():
        return []
    with open(path, newline="") as f:
        return [f"{row['Occurrences']} x {row['Error']}" for row in csv.DictReader(f)]


def one_run(
    args: argparse.Namespace,
    procs: Processes,
    root: Path,
    tokens: Path,
    coach: str,
    legacy: str,
    percent: int,
) -> Result:
    with nginx_for(procs, root, coach=coach, legacy=legacy, percent=percent) as (port, log):
        say(
            f"COACH_PERCENT={percent}: {args.users} users (spawn {args.spawn_rate}/s) for "
            f"{args.duration} through nginx on 127.0.0.1:{port}"
        )
        row = run_locust(args, root, port, tokens, percent)
        time.sleep(0.5)  # the last access log lines
        answered_by, side_latency = read_access_log(log, 0)
    return Result(
        percent=percent,
        requests=int(row["Request Count"]),
        failures=int(row["Failure Count"]),
        rps=float(row["Requests/s"]),
        p50=float(row["50%"]),
        p95=float(row["95%"]),
        p99=float(row["99%"]),
        answered_by=answered_by,
        side_latency=side_latency,
        failure_kinds=failure_kinds(root, percent),
    )


def report(results: list[Result], args: argparse.Namespace) -> None:
    print()
    print(
        f"GET /fitness/wod through nginx: {args.users} concurrent users, {args.tokens} users' "
        f"tokens, {args.duration} per run (statistics from when all users were running)"
    )
    print(
        f"{'COACH_PERCENT':>13} {'requests':>9} {'req/s':>7} {'p50 ms':>7} {'p95 ms':>7} "
        f"{'p99 ms':>7} {'errors':>8}  verdict"
    )
    for r in results:
        verdict = "pass" if r.passed else "FAIL"
        print(
            f"{r.percent:>13} {r.requests:>9} {r.rps:>7.1f} {r.p50:>7.0f} {r.p95:>7.0f} "
            f"{r.p99:>7.0f} {r.error_rate:>8.2%}  {verdict}"
        )
    print(f"criteria (the ADR's): p95 < {P95_LIMIT_MS:.0f} ms and errors < {ERROR_LIMIT:.0%}")
    print()
    print("who answered, from nginx's access log (request_time p50/p95/p99 in ms):")
    for r in results:
        total = sum(r.answered_by.values()) or 1
        parts = [
            f"{who} {n} ({n / total:.0%}; {'/'.join(f'{x:.0f}' for x in r.side_latency[who])})"
            for who, n in sorted(r.answered_by.items())
        ]
        print(f"  {r.percent:>3} %: " + ", ".join(parts))
        for kind in r.failure_kinds:
            print(f"        failure: {kind}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--percent", type=int, action="append", help="COACH_PERCENT (repeat)")
    parser.add_argument("--users", type=int, default=100, help="concurrent users (100)")
    parser.add_argument("--spawn-rate", type=float, default=20, help="users started per second")
    parser.add_argument("--duration", default="60s", help="per run, as Locust reads it (60s)")
    parser.add_argument("--tokens", type=int, default=5000, help="distinct users' tokens")
    parser.add_argument("--demo-users", type=int, default=10000, help="users in the projection")
    parser.add_argument("--api-workers", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    percents = args.percent or [100, 50]
    if any(not 0 <= p <= 100 for p in percents) or args.tokens > args.demo_users:
        parser.error("percentages are 0..100 and --tokens at most --demo-users")
    find_program("nginx")
    find_program("envsubst")

    root = Path(tempfile.mkdtemp(prefix="coach-loadtest-"))
    root.chmod(0o755)  # nginx's workers (nobody, when run as root) use its tmp/
    procs = Processes(root)
    try:
        started = time.monotonic()
        events = build_projection(root / "coach.db", args.demo_users)
        tokens = root / "tokens.txt"
        write_tokens(tokens, count=args.tokens, users=args.demo_users)
        say(
            f"projection of {events} events and {args.tokens} tokens in "
            f"{time.monotonic() - started:.1f} s"
        )

        base_env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
        api_port, legacy_port = free_port(), free_port()
        procs.start(
            "coach-api",
            [
                str(BIN / "coach"),
                "api",
                "--port",
                str(api_port),
                "--workers",
                str(args.api_workers),
            ],
            {**base_env, "COACH_DB_PATH": str(root / "coach.db"), "COACH_JWT_SECRET": SECRET},
        )
        procs.start(
            "legacy",
            [sys.executable, str(REPO / "deploy/legacy/app.py")],
            {**base_env, "LEGACY_HOST": "127.0.0.1", "LEGACY_PORT": str(legacy_port)},
        )
        first = tokens.read_text().split()[0]
        wait_http(
            "coach api",
            f"http://127.0.0.1:{api_port}/fitness/wod",
            procs,
            "coach-api",
            {"Authorization": f"Bearer {first}"},
        )
        wait_http("legacy stand-in", f"http://127.0.0.1:{legacy_port}/health", procs, "legacy")
        say(f"coach api ({args.api_workers} workers) on {api_port}, legacy on {legacy_port}")

        results = [
            one_run(
                args,
                procs,
                root,
                tokens,
                f"127.0.0.1:{api_port}",
                f"127.0.0.1:{legacy_port}",
                percent,
            )
            for percent in percents
        ]
    finally:
        procs.stop_all()
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results, args)
    return 0 if all(r.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
