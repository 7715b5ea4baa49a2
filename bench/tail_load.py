"""The load generators of bench/tail.py: wrk and bench/loop_client.py in a closed loop,
vegeta in an open loop, each pinned to the load core, each run's figures as a dict."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
LOAD_CPU = "1"
"""The core the load runs on (the server runs alone on core 0)."""

WRK_LUA = r"""
local tokens = {}
for line in io.lines(os.getenv("BENCH_TOKENS")) do tokens[#tokens + 1] = line end
local mode = os.getenv("BENCH_MODE")
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
end

function init(args)
  math.randomseed(id * 7919 + 1)
  i = math.floor(id * #tokens / 2)  -- each of the 2 threads takes its own half
end

function request()
  local token
  if mode == "hot" then
    token = tokens[math.random(#tokens)]
  else
    i = i + 1
    if i > #tokens then i = 1 end
    token = tokens[i]
  end
  return wrk.format(nil, nil, {["Authorization"] = "Bearer " .. token})
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "p999_us": %d, ' ..
    '"max_us": %d, "non2xx": %d, "socket_errors": %d, "timeouts": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max, e.status, e.connect + e.read + e.write,
    e.timeout))
end
"""


def vegeta_binary() -> str | None:
    found = shutil.which("vegeta")
    if found:
        return found
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        gopath = subprocess.run(
            ["go", "env", "GOPATH"], capture_output=True, text=True, check=True
        ).stdout.strip()
        candidate = Path(gopath) / "bin" / "vegeta"
        if candidate.exists():
            return str(candidate)
    return None


def wrk(base: str, seconds: float, connections: int, tokens: Path, mode: str, lua: Path) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            "wrk",
            "-t",
            "2",
            "-c",
            str(connections),
            "-d",
            f"{round(seconds)}s",
            "--timeout",
            "10s",
            "-s",
            str(lua),
            base + "/fitness/wod",
        ],
        env={**os.environ, "BENCH_TOKENS": str(tokens), "BENCH_MODE": mode},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    r = result_line(out)
    errors = r["non2xx"] + r["socket_errors"] + r["timeouts"]
    return closed_figures(r, r["duration_us"] / 1e6, errors)


def result_line(out: str) -> dict[str, Any]:
    """The JSON of a load generator's `RESULT {...}` line."""
    return json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[7:])  # type: ignore[no-any-return]


def closed_figures(r: dict[str, Any], seconds: float, errors: int) -> dict[str, Any]:
    """A closed-loop run's figures from its RESULT (latencies in microseconds)."""
    return {
        "rps": r["requests"] / seconds,
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "p999_ms": r["p999_us"] / 1000,
        "max_ms": r["max_us"] / 1000,
        "requests": r["requests"],
        "errors": errors,
    }


def loop_client(base: str, seconds: float, connections: int, tokens: Path, mode: str) -> dict:  # type: ignore[type-arg]
    """The same closed loop as wrk's, from bench/loop_client.py (a second client)."""
    out = subprocess.run(
        [
            "taskset",
            "-c",
            LOAD_CPU,
            str(REPO / ".venv/bin/python"),
            str(REPO / "bench/loop_client.py"),
            "--port",
            base.rsplit(":", 1)[1],
            "--tokens",
            str(tokens),
            "--connections",
            str(connections),
            "--seconds",
            str(seconds),
            "--mode",
            mode,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    r = result_line(out)
    return closed_figures(r, r["seconds"], r["non2xx"])


def vegeta(vegeta_bin: str, base: str, rate: int, seconds: float, tokens: list[str]) -> dict:  # type: ignore[type-arg]
    """An open-loop run: `rate` requests a second, whatever the server does."""
    wanted = int(rate * seconds) + 1
    targets = "".join(
        f"GET {base}/fitness/wod\nAuthorization: Bearer {t}\n\n" for t in tokens[:wanted]
    )
    with tempfile.NamedTemporaryFile("w", suffix=".targets", delete=False) as f:
        f.write(targets)
    try:
        attack = subprocess.run(
            [
                "taskset",
                "-c",
                LOAD_CPU,
                vegeta_bin,
                "attack",
                f"-targets={f.name}",
                f"-rate={rate}/s",
                f"-duration={seconds:g}s",
                "-timeout=10s",
                "-keepalive=true",
            ],
            capture_output=True,
            check=True,
        ).stdout
        encoded = subprocess.run(
            [vegeta_bin, "encode", "-to", "csv"], input=attack, capture_output=True, check=True
        ).stdout.decode()
    finally:
        os.unlink(f.name)
    latencies, errors = [], 0
    for row in csv.reader(io.StringIO(encoded)):
        latencies.append(int(row[2]) / 1e6)
        if row[1] != "200":
            errors += 1
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(len(latencies) * p / 100))]

    return {
        "rate": rate,
        "requests": len(latencies),
        "p50_ms": pct(50),
        "p99_ms": pct(99),
        "p999_ms": pct(99.9),
        "max_ms": latencies[-1],
        "errors": errors,
        "percentiles_ms": {str(p): pct(p) for p in (50, 75, 90, 95, 99, 99.5, 99.9, 99.99)},
    }
