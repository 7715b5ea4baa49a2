"""Soak: coach under WOD load with events flowing for a while; the memory (RSS) and open
files of `coach consume` and `coach api` must stay flat (`make faults`).

    .venv/bin/python tests/faults/soak.py                  # 10 minutes, 2 of them warm-up
    .venv/bin/python tests/faults/soak.py --minutes 2      # a quick check (warm-up 0.5 min)

On the broker of COACH_KAFKA_BOOTSTRAP_SERVERS (else the local one, started if needed), with
topics of its own. A publisher sends --events-per-second workouts of 500 users; most are
completed just inside the history window's edge, so the consumer's minute fold removes them
again and the projection stays the size it would have in a steady state (a growing file
would grow the page caches, which is not a leak). The rest are recent, for the WODs.
Meanwhile --clients HTTP clients ask for WODs. Every --sample seconds it reads VmRSS and the
number of open file descriptors of both processes from /proc, each with its child processes
(the consumer's writer process, the api's workers).

It fails (exit 1) when, after the warm-up, the median of the last minute exceeds the median
of the first minute by 10 % or more, for either figure of either process; or when a WOD
request fails; or when the consumer has not applied every event at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from aiokafka import AIOKafkaProducer  # noqa: E402

from config.settings import Settings  # noqa: E402
from tests.conftest import SECRET, _load_local_broker  # noqa: E402
from tests.e2e.helpers import Service, coach, lines, stats, wait_for  # noqa: E402
from tests.factories import completed, upserted, value_of  # noqa: E402
from tests.faults.helpers import Api, Load, stop_all  # noqa: E402

LIMIT = 0.10
USERS = 500


def say(message: str) -> None:
    print(f"soak: {message}", flush=True)


def proc_figures(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of `pid` and its child processes (the consumer's
    writer process), from /proc."""
    rss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    for child in children(pid):
        with contextlib.suppress(FileNotFoundError):
            child_rss, child_fds = proc_figures(child)
            rss, fds = rss + child_rss, fds + child_fds
    return rss, fds


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


class Publisher:
    """Workouts at a steady rate, on a thread of its own, until stopped; counts what it sent."""

    def __init__(self, settings: Settings, per_second: float, history_hours: int) -> None:
        self.settings = settings
        self.per_second = per_second
        self.history = timedelta(hours=history_hours)
        self.sent = 0
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(60)
        if self.error:
            raise self.error
        return self.sent

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:
            self.error = exc

    async def _run(self) -> None:
        rng = random.Random(11)
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers, linger_ms=20
        )
        await producer.start()
        try:
            tick = 0.1
            per_tick = self.per_second * tick
            owed = 0.0
            n = 0
            next_at = time.monotonic()
            while not self._stop.is_set():
                owed += per_tick
                futures = []
                now = datetime.now(UTC)
                while owed >= 1:
                    owed -= 1
                    user = str(rng.randint(1, USERS))
                    if rng.random() < 0.9:  # folded away within about two minutes
                        at = now - self.history + timedelta(seconds=rng.uniform(5, 120))
                    else:  # yesterday's, for the WODs
                        at = now - timedelta(hours=rng.uniform(1, 30))
                    exercises = [(rng.randint(1, 48), 20.0, 5) for _ in range(rng.randint(1, 5))]
                    event = completed(f"s{n}", user, at, exercises)
                    n += 1
                    futures.append(
                        await producer.send(
                            self.settings.topic_workouts, value_of(event), key=user.encode()
                        )
                    )
                if futures:
                    await asyncio.gather(*futures)
                    self.sent += len(futures)
                next_at += tick
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
        finally:
            await producer.stop()


def window_median(
    samples: list[tuple[float, int, int, int, int]], col: int, start: float, end: float
) -> float:
    values = [s[col] for s in samples if start <= s[0] < end]
    if not values:
        raise SystemExit(f"soak: no samples between {start:.0f} s and {end:.0f} s")
    return statistics.median(values)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="whole run (default 10)")
    ap.add_argument("--warmup", type=float, help="minutes not judged (default: 20 %%, >= 0.5)")
    ap.add_argument("--window", type=float, default=1.0, help="minutes compared (default 1)")
    ap.add_argument("--events-per-second", type=float, default=100.0)
    ap.add_argument("--clients", type=int, default=8, help="concurrent WOD clients")
    ap.add_argument("--pause", type=float, default=0.02, help="s each client waits")
    ap.add_argument("--sample", type=float, default=5.0, help="s between samples")
    ap.add_argument("--keep", action="store_true", help="keep the directory (logs, CSV)")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else max(0.5, args.minutes * 0.2)
    window = min(args.window, (args.minutes - warmup) / 2)
    if window <= 0:
        ap.error("--minutes must leave time after the warm-up")

    bootstrap = os.environ.get("COACH_KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        bootstrap = _load_local_broker().start(quiet=True)
    root = Path(tempfile.mkdtemp(prefix="coach-soak-"))
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        db_path=root / "coach.db",
        jwt_secret=SECRET,
        kafka_bootstrap_servers=bootstrap,
        topic_exercises=f"soak.{suffix}.exercises",
        topic_workouts=f"soak.{suffix}.workouts",
        topic_erasures=f"soak.{suffix}.erasures",
    )
    say(f"{args.minutes:g} min ({warmup:g} warm-up), {args.events_per_second:g} events/s, "
        f"{args.clients} WOD clients; broker {bootstrap}; files in {root}")  # fmt: skip
    coach(settings, "topics", "create")
    coach(settings, "publish", input=lines([upserted(i) for i in range(1, 49)]))
    consumer = Service(settings, root / "consume.log", "consume")
    api: Api | None = None
    publisher = Publisher(settings, args.events_per_second, settings.history_hours)
    samples: list[tuple[float, int, int, int, int]] = []
    failed: list[str] = []
    try:
        api = Api(settings, root / "api.log")
        wait_for("/ready", lambda: api.get("/ready").status_code == 200, timeout=60)
        pids = {"consumer": consumer.proc.pid, "api": api.service.proc.pid}
        publisher.start()
        started = time.monotonic()
        end = started + args.minutes * 60
        with (
            open(root / "samples.csv", "w", newline="") as fh,
            Load(api.url, concurrency=args.clients, pause=args.pause) as load,
        ):
            out = csv.writer(fh)
            out.writerow(["t_s", "consumer_rss_kib", "consumer_fds", "api_rss_kib", "api_fds"])
            next_sample = started
            while (now := time.monotonic()) < end:
                for name, service in (("consumer", consumer), ("api", api.service)):
                    if service.proc.poll() is not None:
                        raise SystemExit(f"soak: the {name} exited:\n{service.log()[-3000:]}")
                if now >= next_sample:
                    c_rss, c_fds = proc_figures(pids["consumer"])
                    a_rss, a_fds = proc_figures(pids["api"])
                    samples.append((now - started, c_rss, c_fds, a_rss, a_fds))
                    out.writerow([f"{now - started:.1f}", c_rss, c_fds, a_rss, a_fds])
                    fh.flush()
                    next_sample += args.sample
                time.sleep(0.2)
            sent = publisher.stop()
            result = load.stop()
        prefix = settings.topic_workouts + "/"
        wait_for(
            "the consumer to apply every event",
            lambda: (
                sum(v for k, v in stats(settings)["offsets"].items() if k.startswith(prefix))
                == sent
            ),
            timeout=120,
            service=consumer,
        )
        final = stats(settings)
    finally:
        publisher._stop.set()
        stop_all(api, consumer)

    say(f"{result.summary()}")
    sizes = {k: final[k] for k in ("workouts", "completed_exercises", "performances")}
    say(f"{sent} events published and applied; projection at the end: {json.dumps(sizes)}")
    if result.failures:
        failed.append(f"{result.failures} WOD requests failed: {result.errors[:5]}")
    total = args.minutes * 60
    first = (warmup * 60, warmup * 60 + window * 60)
    last = (total - window * 60, total + 1)
    for col, what in (
        (1, "consumer RSS KiB"),
        (2, "consumer fds"),
        (3, "api RSS KiB"),
        (4, "api fds"),
    ):
        after_warmup = [s[col] for s in samples if s[0] >= warmup * 60]
        a = window_median(samples, col, *first)
        b = window_median(samples, col, *last)
        growth = b / a - 1
        verdict = "ok" if growth < LIMIT else "GROWS"
        say(f"{what:17} start {samples[0][col]:>8}  after warm-up {a:>10.0f}  end {b:>10.0f}  "
            f"max {max(after_warmup):>8}  growth {growth:+.1%}  {verdict}")  # fmt: skip
        if growth >= LIMIT:
            failed.append(f"{what} grew {growth:.1%} after the warm-up (limit {LIMIT:.0%})")
    if failed:
        say("FAILED: " + "; ".join(failed) + f" (files kept in {root})")
        return 1
    say("passed")
    if not args.keep:
        import shutil

        shutil.rmtree(root, ignore_errors=True)
    else:
        say(f"files kept in {root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
