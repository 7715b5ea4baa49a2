"""The load test's local stack (deploy/loadtest/run.py runs it): a projection built with the
consumer's own batch code from coach's demo data, tokens, `coach api`, the legacy stand-in
and nginx, all on loopback addresses, started and stopped together (`Processes`)."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
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
