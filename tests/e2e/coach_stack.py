"""A real coach (consumer and api) fed the demo data through the real broker, and the legacy
stand-in (deploy/legacy/app.py) drawing from the same events file: what the shadow and the
comparison gate are tested against. A test module makes it a module-scoped fixture (starting it
takes seconds): `_stack = pytest.fixture(scope="module", name="stack")(running_stack)`."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from config.settings import Settings
from tests.conftest import REPO, SECRET
from tests.e2e.helpers import Service, coach, free_port, wait_for

DEMO_USERS = 120
LEGACY_APP = REPO / "deploy/legacy/app.py"


@dataclass
class Stack:
    settings: Settings
    events: Path
    """What was published: `coach demo-data --users DEMO_USERS` (48 exercises, 3 days)."""
    port: int
    root: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def token(self, sub: str) -> str:
        return coach(self.settings, "token", "--sub", sub).stdout.decode().strip()


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def running_stack(
    kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("coach-stack")
    suffix = uuid.uuid4().hex[:10]
    settings = Settings(
        db_path=root / "coach.db",
        jwt_secret=SECRET,
        kafka_bootstrap_servers=kafka_bootstrap,
        topic_exercises=f"test.{suffix}.exercises",
        topic_workouts=f"test.{suffix}.workouts",
        topic_erasures=f"test.{suffix}.erasures",
        heartbeat_seconds=0.5,
        poll_timeout_ms=100,
    )
    coach(settings, "topics", "create")
    events = root / "events.jsonl"
    events.write_bytes(coach(settings, "demo-data", "--users", str(DEMO_USERS)).stdout)
    coach(settings, "publish", str(events))
    stack = Stack(settings, events, free_port(), root)
    consumer = Service(settings, root / "consume.log", "consume")
    api = Service(settings, root / "api.log", "api", "--port", str(stack.port))
    try:
        wait_for("coach ready", lambda: _status(f"{stack.url}/ready") == 200, service=api)
        yield stack
    finally:
        api.stop()
        consumer.stop()


@contextlib.contextmanager
def legacy_stand_in(events: Path | None, **env: str) -> Iterator[str]:
    """deploy/legacy/app.py on a free port, answering at once; yields its base URL."""
    port = free_port()
    full = {
        **os.environ,
        "LEGACY_PORT": str(port),
        "LEGACY_DELAY_MIN": "0",
        "LEGACY_DELAY_MAX": "0",
    }
    if events is not None:
        full["LEGACY_EVENTS_FILE"] = str(events)
    full.update(env)
    proc = subprocess.Popen(
        [sys.executable, str(LEGACY_APP)],
        env=full,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_for(
            "the legacy stand-in", lambda: proc.poll() is None and _status(f"{url}/health") == 200
        )
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
