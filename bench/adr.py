"""coach against the ADR's original synchronous design, side by side in one run.

The ADR design (bench/adr_service.py) asks the monolith over HTTP on every request for the
catalog and the user's exercises, then filters and draws with coach's own functions; the
monolith is a stand-in (bench/monolith.py) that answers from a copy of the very projection
coach serves, with the queries a database behind it would run on every call. Both answer
the same WOD for the same token (checked before measuring).

1. Builds the projection of bench/wod.py (200 exercises, 100,000 workouts of 50,000 users)
   and copies the file for the stand-in.
2. Starts coach (`coach api`), the stand-in and the ADR service, each with the same number
   of uvicorn workers; all share the machine's cores with wrk (idle while not measured).
3. Checks that coach and the ADR service answer the same exercises and suggestions for
   200 users.
   The ADR service runs twice: with httpx2 (what it would use) and with a minimal raw
   keep-alive client (a bound on what a faster client could save it).
4. Runs wrk (100 connections, 5,000 users' tokens in rotation) against each in turn, the
   order rotating every round, and reports throughput, p50/p95/p99, errors, the CPU time
   each process used per request, and the ratios.

    .venv/bin/python bench/adr.py                        # about 3 minutes
    .venv/bin/python bench/adr.py --seconds 15 --rounds 3
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import wod  # noqa: E402
from bench.common import machine_info, save_result  # noqa: E402

CHECKED_USERS = 200


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and all its descendants, so far."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue
    return total


@contextlib.contextmanager
def uvicorn_server(
    target: str,
    *,
    workers: int,
    env: dict[str, str],
    factory: bool = False,
    extra: tuple[str, ...] = (),
) -> Iterator[tuple[str, int]]:
    """`uvicorn TARGET` on a free port, as coach's own `coach api` runs it; yields (base
    url, pid) once /health answers."""
    port = wod.free_port()
    argv = [
        str(REPO / ".venv/bin/uvicorn"),
        target,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        "--no-access-log",
        *(["--factory"] if factory else []),
        *extra,
    ]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    with wod.running(
        argv, env={**clean, "PYTHONPATH": str(REPO), **env}, port=port, name=target, cwd=REPO
    ) as running:
        yield running


def settle(pids: dict[str, int], timeout: float = 10.0) -> None:
    """Wait until every server is idle (done with what the last run left queued), so that
    the next run's CPU time is its own."""
    deadline = time.monotonic() + timeout
    last = sum(cpu_seconds(p) for p in pids.values())
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = sum(cpu_seconds(p) for p in pids.values())
        if now - last < 0.02:
            return
        last = now


def wod_of(base: str, token: str) -> Any:
    request = urllib.request.Request(
        base + "/fitness/wod", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        body = orjson.loads(response.read())
    body.pop("generated_at")
    return body


def check_same_answers(coach: str, adr: str, tokens: list[str]) -> int:
    """How many of `tokens` get the same WOD (exercises and suggestions) from both."""
    same = 0
    for token in tokens:
        if wod_of(coach, token) == wod_of(adr, token):
            same += 1
    return same


def summary(runs: list[wod.Run]) -> dict[str, float]:
    return {
        field: statistics.fmean(getattr(r, field) for r in runs)
        for field in ("rps", "p50_ms", "p95_ms", "p99_ms")
    } | {
        "requests": sum(r.requests for r in runs),
        "errors": sum(r.non2xx + r.socket_errors for r in runs),
    }


NAMES = {"coach": "coach", "adr": "ADR (httpx)", "adr_raw": "ADR (raw client)"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of one run of each")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of each server")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk)", file=sys.stderr)
        return 2
    info = machine_info()
    print(
        f"machine: {info['cpu_model']}, {info['cpus']} cores, Python {info['python']}, "
        f"SQLite {info['sqlite']}; wrk and every server share the cores"
    )
    runs: dict[str, list[wod.Run]] = {name: [] for name in NAMES}
    cpu: dict[str, list[dict[str, float]]] = {name: [] for name in NAMES}
    with tempfile.TemporaryDirectory(prefix="coach-bench-") as tmp:
        tmpdir = Path(tmp)
        db_path, copy = tmpdir / "coach.db", tmpdir / "monolith.db"
        tokens, lua = tmpdir / "tokens.txt", tmpdir / "rotate.lua"
        built = wod.build_projection(db_path)
        shutil.copyfile(db_path, copy)
        print(
            f"projection: {wod.EXERCISES} exercises, {wod.WORKOUTS:,} workouts of "
            f"{wod.USERS:,} users, built in {built:.1f} s; the stand-in reads a copy"
        )
        wod.write_tokens(tokens)
        lua.write_text(wod.LUA)
        token_list = tokens.read_text().split()
        common_env = {"COACH_JWT_SECRET": wod.SECRET, "COACH_JWT_CACHE_SIZE": "10000"}
        coach_pids: list[int] = []
        with (
            wod.server(db_path, workers=args.workers, token_cache=10_000, pids=coach_pids) as coach,
            uvicorn_server(
                "bench.monolith:app",
                workers=args.workers,
                env={"ADR_MONOLITH_DB": str(copy)},
                # keep idle client connections open between runs (uvicorn closes them after 5 s)
                extra=("--timeout-keep-alive", "300"),
            ) as (monolith, monolith_pid),
            uvicorn_server(
                "bench.adr_service:create_app",
                workers=args.workers,
                env={**common_env, "ADR_MONOLITH_URL": monolith, "ADR_CLIENT": "httpx"},
                factory=True,
            ) as (adr, adr_pid),
            uvicorn_server(
                "bench.adr_service:create_app",
                workers=args.workers,
                env={**common_env, "ADR_MONOLITH_URL": monolith, "ADR_CLIENT": "raw"},
                factory=True,
            ) as (adr_raw, adr_raw_pid),
        ):
            bases = {"coach": coach, "adr": adr, "adr_raw": adr_raw}
            pids = {
                "coach": coach_pids[0],
                "adr": adr_pid,
                "adr_raw": adr_raw_pid,
                "monolith": monolith_pid,
            }
            checked = token_list[:CHECKED_USERS]
            same = {
                name: check_same_answers(coach, bases[name], checked) for name in ("adr", "adr_raw")
            }
            print(f"same WOD as coach's for {CHECKED_USERS} users: {same}")
            if any(n != CHECKED_USERS for n in same.values()):
                print("the designs disagree: not measuring", file=sys.stderr)
                return 1
            print(
                f"wrk: {wod.CONNECTIONS} connections, {wod.THREADS} threads, "
                f"{len(token_list):,} users' tokens; {args.workers} worker(s) per server; "
                f"{args.rounds} rounds of {args.seconds:g} s, the order rotating"
            )
            for base in bases.values():  # warm up
                wod.wrk(base, "/fitness/wod", 2, lua, tokens, allow_errors=True)
            names = list(NAMES)
            for round_ in range(args.rounds):
                for name in names[round_ % 3 :] + names[: round_ % 3]:
                    settle(pids)
                    before = {k: cpu_seconds(p) for k, p in pids.items()}
                    run = wod.wrk(
                        bases[name], "/fitness/wod", args.seconds, lua, tokens, allow_errors=True
                    )
                    settle(pids)  # the requests still queued when wrk stopped are its own
                    used = {k: cpu_seconds(p) - before[k] for k, p in pids.items()}
                    runs[name].append(run)
                    cpu[name].append({k: v / max(1, run.requests) * 1e6 for k, v in used.items()})
                    print(
                        f"  round {round_ + 1} {NAMES[name]:<17} {run.rps:7.0f} req/s  "
                        f"p50 {run.p50_ms:7.1f}  p95 {run.p95_ms:7.1f}  p99 {run.p99_ms:7.1f} ms"
                        f"  errors {run.non2xx + run.socket_errors}"
                    )
    summaries = {name: summary(rs) for name, rs in runs.items()}
    cpu_per_request = {
        name: {k: statistics.fmean(r[k] for r in rows) for k in rows[0]}
        for name, rows in cpu.items()
    }
    c = summaries["coach"]
    ratios = {
        name: {
            "throughput": c["rps"] / summaries[name]["rps"],
            "p50": c["p50_ms"] / summaries[name]["p50_ms"],
            "p95": c["p95_ms"] / summaries[name]["p95_ms"],
            "p99": c["p99_ms"] / summaries[name]["p99_ms"],
        }
        for name in ("adr", "adr_raw")
    }
    print()
    for name, s in summaries.items():
        print(
            f"{NAMES[name]:<17} {s['rps']:7.0f} req/s  p50 {s['p50_ms']:7.1f}  "
            f"p95 {s['p95_ms']:7.1f}  p99 {s['p99_ms']:7.1f} ms  "
            f"errors {s['errors']:.0f} of {s['requests']:,.0f}"
        )
    for name, r in ratios.items():
        print(
            f"coach vs {NAMES[name]}: throughput {r['throughput']:.1f}x (goal >= 5) "
            f"{'OK' if r['throughput'] >= 5 else 'MISSED'}; p95 {r['p95']:.3f} of it "
            f"(goal <= 0.2) {'OK' if r['p95'] <= 0.2 else 'MISSED'}"
        )
    for name, per in cpu_per_request.items():
        print(
            f"CPU per request during the {NAMES[name]} runs (us): "
            + ", ".join(f"{k} {v:.0f}" for k, v in per.items())
        )
    save_result(
        "adr",
        {
            "projection": {
                "exercises": wod.EXERCISES,
                "workouts": wod.WORKOUTS,
                "users": wod.USERS,
            },
            "wrk": {
                "connections": wod.CONNECTIONS,
                "threads": wod.THREADS,
                "tokens": len(token_list),
                "seconds": args.seconds,
                "rounds": args.rounds,
            },
            "workers": args.workers,
            "names": NAMES,
            "same_answers": {"checked": CHECKED_USERS, "same": same},
            "runs": {k: [dataclasses.asdict(r) for r in v] for k, v in runs.items()},
            "summary": summaries,
            "ratios": ratios,
            "cpu_us_per_request": cpu_per_request,
        },
        info=info,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
