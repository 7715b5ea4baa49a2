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
import contextlib
import csv
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from string import Template
from typing import Any

import jwt
import orjson

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from coach.demo import catalog_events, user_zone, workout_events  # noqa: E402
from consumer.commit import commit_records  # noqa: E402
from consumer.handlers import Context  # noqa: E402
from consumer.records import Record  # noqa: E402
from events.codec import record_key  # noqa: E402
from store.db import connect  # noqa: E402
from store.instants import now_us  # noqa: E402

BIN = Path(sys.executable).parent
SECRET = "loadtest-only-secret-" + "l" * 32
TOPICS = {"fitness.exercises": "exercises", "fitness.workouts": "workouts"}
P95_LIMIT_MS = 5000.0
ERROR_LIMIT = 0.01
MAIN_CONF = REPO / "deploy/nginx/standalone.conf.in"


def say(message: str) -> None:
    print(f"loadtest: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_program(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if not found:
        sys.exit(f"loadtest: {name} is missing (Debian: apt-get install nginx gettext-base)")
    return found


# -- the stack ------------------------------------------------------------------------------


def build_projection(path: Path, users: int) -> int:
    """The demo catalog and three days of workouts of `users` users, applied as the consumer
    applies a batch; returns the number of events."""
    conn = connect(path)
    offsets = dict.fromkeys(TOPICS, 0)

    def apply(topic: str, events: list[dict[str, Any]]) -> None:
        records = []
        for event in events:
            key = record_key(event).encode()
            records.append(Record(topic, 0, offsets[topic], key, orjson.dumps(event)))
            offsets[topic] += 1
        commit_records(conn, records, roles=TOPICS, ctx=Context(now_us=now_us()))

    apply("fitness.exercises", list(catalog_events()))
    batch: list[dict[str, Any]] = []
    for event in workout_events(users=users, days=3, now=datetime.now(UTC)):
        batch.append(event)
        if len(batch) == 5000:
            apply("fitness.workouts", batch)
            batch = []
    apply("fitness.workouts", batch)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return sum(offsets.values())


def write_tokens(path: Path, *, count: int, users: int) -> None:
    """`count` tokens of distinct users (of 1..users), valid for two hours, with the users'
    time zones as their `zoneinfo` claim."""
    now = int(time.time())
    subjects = random.Random(5).sample(range(1, users + 1), count)
    lines = [
        jwt.encode(
            {"sub": str(s), "iat": now, "exp": now + 7200, "zoneinfo": user_zone(s)},
            SECRET,
            algorithm="HS256",
        )
        for s in subjects
    ]
    path.write_text("\n".join(lines) + "\n")


class Processes:
    """The stack's processes, each with its output in a file; all stopped at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = open(self.root / f"{name}.log", "wb")  # noqa: SIM115 (the child keeps it)
        proc = subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.running.append((name, proc))
        return proc

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop_all(self) -> None:
        for _, proc in reversed(self.running):
            self.stop(proc)

    def log_tail(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""


def wait_http(
    what: str, url: str, procs: Processes, name: str, headers: dict[str, str] | None = None
) -> None:
    deadline = time.monotonic() + 60
    last: object = None
    while time.monotonic() < deadline:
        for proc_name, proc in procs.running:
            if proc_name == name and proc.poll() is not None:
                sys.exit(f"loadtest: {what} exited:\n{procs.log_tail(name)}")
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
                if r.status == 200:
                    return
        except (OSError, urllib.error.HTTPError) as exc:
            last = exc
        time.sleep(0.2)
    sys.exit(f"loadtest: {what} did not answer 200 at {url} ({last}):\n{procs.log_tail(name)}")


@contextlib.contextmanager
def nginx_for(
    procs: Processes, root: Path, *, coach: str, legacy: str, percent: int
) -> Iterator[tuple[int, Path]]:
    """nginx with the template rendered for `percent`; yields its port and access log."""
    nginx = find_program("nginx")
    here = root / f"nginx-{percent}"
    (here / "tmp").mkdir(parents=True)
    port = free_port()
    env = {
        **os.environ,
        "COACH_UPSTREAMS": coach,
        "LEGACY_UPSTREAM": legacy,
        "COACH_PERCENT": str(percent),
        "LISTEN_PORT": str(port),
    }
    subprocess.run(
        [
            str(REPO / "deploy/nginx/render.sh"),
            str(REPO / "deploy/nginx/coach.conf.template"),
            str(here / "coach.conf"),
        ],
        env=env,
        check=True,
    )
    (here / "nginx.conf").write_text(
        Template(MAIN_CONF.read_text()).substitute(
            root=here, workers="auto", connections=4096, log_level="warn"
        )
    )
    name = f"nginx-{percent}"
    proc = procs.start(
        name, [nginx, "-p", str(here), "-c", str(here / "nginx.conf"), "-g", "daemon off;"], env
    )
    wait_http("nginx", f"http://127.0.0.1:{port}/health", procs, name)
    try:
        yield port, root / f"{name}.log"
    finally:
        procs.stop(proc)


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
