"""Run every benchmark, then write the report (docs/BENCHMARKS.md and docs/bench/*.png).

    .venv/bin/python bench/run.py           # a few minutes (make bench)
    .venv/bin/python bench/run.py --full    # the large sizes: 1M users, 500k events (~30 min)

Each benchmark runs as its own process and writes bench/results/NAME.json with its figures,
its command and the machine; a benchmark that fails is reported and the others still run
(the report keeps that benchmark's previous results, if any, with their own date).
Start with a quiet machine: the figures are ratios measured side by side, but every server
and wrk share the same cores.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON = ".venv/bin/python"

DEFAULT = [
    ["bench/ingest.py", "--events", "500000", "--rounds", "2"],
    ["bench/replay.py", "--events", "1000000", "--rounds", "2"],
    ["bench/wod.py", "--quick", "--workers", "2"],
    ["bench/wod_inprocess.py", "--plain", "--rounds", "5"],
    ["bench/tail.py", "--quick"],
    ["bench/capacity.py", "--seconds", "4"],
    ["bench/freshness.py"],
    ["bench/adr.py", "--seconds", "8", "--rounds", "2"],
    ["bench/scaling.py", "users"],
    ["bench/scaling.py", "catalog"],
    ["bench/ingest_batch.py"],
    ["bench/image.py"],
    ["bench/snapshot.py", "--users", "100000"],
    ["bench/sharding.py", "--users", "100000"],
    ["bench/cdc_freshness.py", "--seconds", "20"],
]
FULL = [
    ["bench/ingest.py", "--events", "500000", "--rounds", "3"],
    ["bench/replay.py", "--events", "1000000", "--rounds", "3"],
    ["bench/wod.py"],
    ["bench/wod_inprocess.py", "--plain"],
    ["bench/tail.py"],
    ["bench/capacity.py"],
    ["bench/freshness.py", "--probes", "300"],
    ["bench/adr.py", "--seconds", "15", "--rounds", "3"],
    ["bench/scaling.py", "users", "--full"],
    ["bench/scaling.py", "catalog", "--seconds", "8", "--rounds", "3"],
    ["bench/ingest_batch.py", "--full"],
    ["bench/image.py", "--cold"],
    ["bench/snapshot.py", "--users", "1000000"],
    ["bench/sharding.py", "--users", "1000000"],
    ["bench/cdc_freshness.py"],
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the large sizes (about 30 minutes)")
    args = parser.parse_args()
    failed = []
    for argv in FULL if args.full else DEFAULT:
        print(f"\n$ {PYTHON} {' '.join(argv)}", flush=True)
        started = time.monotonic()
        code = subprocess.call([str(REPO / PYTHON), *argv], cwd=REPO)
        print(f"({time.monotonic() - started:.0f} s)", flush=True)
        if code != 0:
            failed.append(" ".join(argv))
    print(f"\n$ {PYTHON} bench/report.py", flush=True)
    code = subprocess.call([str(REPO / PYTHON), "bench/report.py"], cwd=REPO)
    if code != 0:
        failed.append("bench/report.py")
    if failed:
        print("failed: " + "; ".join(failed), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
