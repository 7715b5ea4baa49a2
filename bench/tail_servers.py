"""The two servers of bench/tail.py, each started alone on core 0 (taskset): coach's
`coach api` over a projection and bench/plain_app.py; the tokens of a run's users; and
coach's event-loop stalls read from its /metrics."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.wod import SECRET, free_port, running  # noqa: E402

SERVER_CPU = "0"


def tokens_for(users: list[str], path: Path) -> Path:
    exp = int(time.time()) + 6 * 3600
    path.write_text(
        "\n".join(jwt.encode({"sub": u, "exp": exp}, SECRET, algorithm="HS256") for u in users)
        + "\n"
    )
    return path


# -- the two servers -----------------------------------------------------------------------------


@contextlib.contextmanager
def coach_server(db_path: Path) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    env.update(COACH_DB_PATH=str(db_path), COACH_JWT_SECRET=SECRET)
    argv = ["taskset", "-c", SERVER_CPU, str(REPO / ".venv/bin/coach"), "api", "--port", str(port)]
    with running(argv, env=env, port=port, name="coach api") as (base, _):
        yield base


@contextlib.contextmanager
def plain_server(body_file: Path) -> Iterator[str]:
    port = free_port()
    env = {**os.environ, "BENCH_SECRET": SECRET, "BENCH_BODY_FILE": str(body_file)}
    argv = [
        "taskset",
        "-c",
        SERVER_CPU,
        str(REPO / ".venv/bin/python"),
        str(REPO / "bench/plain_app.py"),
        "--port",
        str(port),
    ]
    with running(argv, env=env, port=port, name="plain app") as (base, _):
        yield base


SERVERS = {"coach": coach_server, "plain": plain_server}


def get(url: str, token: str | None = None) -> bytes:
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read()  # type: ignore[no-any-return]


def loop_stalls(base: str) -> dict[str, float]:
    """coach's event-loop lag so far: samples, those over 100 ms, and the bucket of the
    worst."""
    from prometheus_client.parser import text_string_to_metric_families

    text = get(base + "/metrics").decode()
    buckets: list[tuple[float, float]] = []
    for family in text_string_to_metric_families(text):
        if family.name == "coach_event_loop_lag_seconds":
            buckets = [
                (float(s.labels["le"]), s.value)
                for s in family.samples
                if s.name.endswith("_bucket")
            ]
    total = max(v for _, v in buckets)
    under_100ms = next(v for le, v in buckets if le == 0.1)
    worst = next(le for le, v in sorted(buckets) if v == total)
    return {"samples": total, "over_100ms": total - under_100ms, "worst_bucket_s": worst}
