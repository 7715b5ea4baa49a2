"""A new replica's time to ready: started from a `coach snapshot` of a running replica, against
started from the topics (an empty projection), side by side on the same topics.

    .venv/bin/python bench/snapshot.py [--users 1000000] [--rounds 1]

Two workouts per user on average over the last 40 hours (bench/common.py `event_stream`,
catalog of 200 exercises), on a real broker. Replica A is started from the topics: `coach
consume` and `coach api` on an empty file, timed from the start of the processes until
GET /ready answers 200 (catalog, heartbeat, lag under COACH_READY_MAX_LAG, data age). Then,
while A runs, `coach snapshot` (timed), a copy of the file to the new replica's place
(timed: what shipping it costs on one disk), and replica B started on it the same way,
timed to its /ready 200; B checks the file first (topics, SQLite's quick check, timed in
its log). Rounds alternate (topics, snapshot, topics, snapshot). Also recorded: the
projection's size and the resident memory of A's processes (consumer with its writer, api)
once caught up, for docs/SCALING.md.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    bench_settings,
    create_and_fill,
    delete_topics,
    event_stream,
    machine,
    machine_info,
    save_result,
)
from config.settings import Settings

COACH = str(Path(sys.executable).parent / "coach")
SECRET = "bench-secret-" + "x" * 40


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def env_of(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(
        COACH_KAFKA_BOOTSTRAP_SERVERS=settings.kafka_bootstrap_servers,
        COACH_TOPIC_EXERCISES=settings.topic_exercises,
        COACH_TOPIC_WORKOUTS=settings.topic_workouts,
        COACH_DB_PATH=str(settings.db_path),
        COACH_JWT_SECRET=SECRET,
        COACH_HEARTBEAT_SECONDS="0.5",
        COACH_BATCH_MAX_RECORDS="20000",
    )
    return env


def ready(port: int) -> bool:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/ready")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class Replica:
    """`coach consume` and `coach api` on one projection file."""

    def __init__(self, settings: Settings, logs: Path, name: str) -> None:
        self.port = free_port()
        env = env_of(settings)
        self.log = logs / f"{name}-consume.log"
        self.started = time.perf_counter()
        self.consumer = subprocess.Popen(
            [COACH, "consume"],
            env=env,
            stdout=open(self.log, "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )
        self.api = subprocess.Popen(
            [COACH, "api", "--port", str(self.port)],
            env=env,
            stdout=open(logs / f"{name}-api.log", "wb"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def until_ready(self, timeout: float) -> float:
        deadline = self.started + timeout
        while not ready(self.port):
            if self.consumer.poll() is not None:
                raise RuntimeError(f"the consumer exited:\n{self.log.read_text()[-2000:]}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"not ready after {timeout} s:\n{self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        return time.perf_counter() - self.started

    def rss_mb(self) -> dict[str, float]:
        """Resident memory of the consumer (with its writer process) and the api."""
        return {
            "consumer_mb": _rss_tree(self.consumer.pid) / 1e6,
            "api_mb": _rss_tree(self.api.pid) / 1e6,
        }

    def stop(self) -> None:
        for proc in (self.api, self.consumer):
            proc.terminate()
        for proc in (self.api, self.consumer):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _rss_tree(pid: int) -> int:
    total = 0
    try:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024  # type: ignore[union-attr]
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except (OSError, AttributeError):
        return total
    return total + sum(_rss_tree(int(c)) for c in children)


def quick_check_seconds(log: Path) -> float | None:
    found = re.search(r"quick check passed in ([\d.]+) s", log.read_text())
    return float(found.group(1)) if found else None


def one_round(settings: Settings, tmp: Path, n: int, timeout: float) -> dict[str, Any]:
    logs = tmp / f"round-{n}"
    logs.mkdir()
    a_settings = settings.model_copy(update={"db_path": logs / "a" / "coach.db"})
    a = Replica(a_settings, logs, "a")
    try:
        from_topics = a.until_ready(timeout)
        print(f"round {n}: from the topics: ready in {from_topics:.1f} s", flush=True)
        memory = a.rss_mb()
        snap = logs / "snap" / "coach.db"
        started = time.perf_counter()
        subprocess.run(
            [COACH, "snapshot", str(snap)], env=env_of(a_settings), check=True, capture_output=True
        )
        snapshot_seconds = time.perf_counter() - started
        target = logs / "b" / "coach.db"
        target.parent.mkdir()
        started = time.perf_counter()
        shutil.copyfile(snap, target)
        copy_seconds = time.perf_counter() - started
        b = Replica(settings.model_copy(update={"db_path": target}), logs, "b")
        try:
            from_snapshot = b.until_ready(timeout)
        finally:
            b.stop()
        check = quick_check_seconds(b.log)
        print(
            f"round {n}: snapshot {snapshot_seconds:.1f} s, copy {copy_seconds:.1f} s, from the "
            f"snapshot: ready in {from_snapshot:.1f} s (its checks {check} s)",
            flush=True,
        )
    finally:
        a.stop()
    return {
        "from_topics_seconds": from_topics,
        "snapshot_seconds": snapshot_seconds,
        "copy_seconds": copy_seconds,
        "from_snapshot_seconds": from_snapshot,
        "checks_seconds": check,
        "file_bytes": snap.stat().st_size,
        **memory,
    }


async def fill(settings: Settings, users: int) -> int:
    return await create_and_fill(settings, event_stream(events=2 * users + 200, users=users))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    info = machine_info()
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as name:
        tmp = Path(name)
        settings = bench_settings(tmp / "unused.db")
        print(f"snapshot benchmark on {machine()}; broker {settings.kafka_bootstrap_servers}")
        started = time.perf_counter()
        records = asyncio.run(fill(settings, args.users))
        print(f"published {records:,} records in {time.perf_counter() - started:.1f} s")
        try:
            rounds = [one_round(settings, tmp, n, args.timeout) for n in range(1, args.rounds + 1)]
        finally:
            asyncio.run(delete_topics(settings))
    best_topics = min(r["from_topics_seconds"] for r in rounds)
    best_snapshot = min(r["from_snapshot_seconds"] for r in rounds)
    ratios = [r["from_topics_seconds"] / r["from_snapshot_seconds"] for r in rounds]
    ratio = sorted(ratios)[len(ratios) // 2]
    whole = [
        r["from_topics_seconds"]
        / (r["snapshot_seconds"] + r["copy_seconds"] + r["from_snapshot_seconds"])
        for r in rounds
    ]
    ratio_whole = sorted(whole)[len(whole) // 2]
    last = rounds[-1]
    print()
    print(f"users (id space) / records : {args.users:,} / {records:,}")
    print(f"projection file            : {last['file_bytes'] / 1e6:.0f} MB")
    print(f"ready from the topics      : {best_topics:.1f} s (best)")
    print(
        f"coach snapshot             : {last['snapshot_seconds']:.1f} s; "
        f"copy {last['copy_seconds']:.1f} s"
    )
    print(
        f"ready from the snapshot    : {best_snapshot:.1f} s "
        f"(best; checks {last['checks_seconds']} s)"
    )
    print(f"topics / snapshot (median) : {ratio:.1f}x  (goal >= 10x)")
    print(f"... counting snapshot+copy : {ratio_whole:.1f}x")
    print(
        f"memory once caught up      : consumer {last['consumer_mb']:.0f} MB, "
        f"api {last['api_mb']:.0f} MB"
    )
    save_result(
        "snapshot",
        {
            "users": args.users,
            "records": records,
            "rounds": rounds,
            "ratio_median": ratio,
            "ratio_with_snapshot_and_copy_median": ratio_whole,
        },
        info=info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
