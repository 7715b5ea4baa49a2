"""The server and the load of bench/wod.py (also used by bench/tail.py and bench/adr.py):
`coach api` started on a free port over a projection, wrk in a closed loop with a Lua script
that rotates through the tokens, one run's figures, and the alternating ceiling/WOD runs."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.wod_data import SECRET  # noqa: E402

CONNECTIONS = 100
THREADS = 2
SEED_BOUND_SECONDS = 5.0

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
