"""The capacity section of docs/BENCHMARKS.md (bench/capacity.py): WODs a second per core
within a p99 bound, hot and cold, and the cores the decision record's load and a day of
1,000,000 users need (docs/SCALING.md quotes it)."""

from __future__ import annotations

from typing import Any

from report_common import missing, provenance, table

TITLE = "Capacity per core within a p99"
HEADER = [
    "bound",
    "hot WOD/s per core",
    "cold WOD/s per core",
    "cores: the decision record's load",
    "cores: a day of 1M users",
]


def capacity_section(record: dict[str, Any] | None) -> str:
    if record is None:
        return missing(TITLE, ".venv/bin/python bench/capacity.py")
    d = record["data"]
    mixes, needs = d["mixes"], d["needs"]
    runs = [
        [mix, f"{r['share']:.0%}", r["rate"], r["p50_ms"], r["p99_ms"], r["max_ms"], r["errors"]]
        for mix in ("hot", "cold")
        for r in mixes[mix]["runs"]
    ]
    rows = [
        [
            f"p99 <= {bound} ms",
            mixes["hot"][f"capacity_p99_{bound}ms"],
            mixes["cold"][f"capacity_p99_{bound}ms"],
            needs[f"p99_{bound}ms"]["seed_cores"],
            needs[f"p99_{bound}ms"]["day_cores"],
        ]
        for bound in (50, 200)
    ]
    day = needs["day_peak_rps"]
    return f"""## {TITLE}

{provenance(record)}

One `coach api` worker on one core (path: {d["path"]}; nginx and the load on the other
core), the tail benchmark's projection and mixes. For each mix the closed-loop maximum
(wrk, 100 connections), then an open loop (vegeta) at rising shares of it, each on a fresh
server after a warm-up; the capacity at a bound is the highest rate measured whose p99
stayed within it with no error. Closed-loop maxima: hot {mixes["hot"]["closed_max_rps"]:,.0f},
cold {mixes["cold"]["closed_max_rps"]:,.0f} req/s.

{table(HEADER, rows)}

The decision record's load: 100 users at once, each waiting 0.5 to 1.5 s between requests,
at most {needs["seed_peak_rps"]:.0f} requests a second, all counted cold. A day of
1,000,000 users: each asks for the day's WOD once (cold) and twice more (hot), a fifth of
them in the busiest hour, its busiest second at 3x the hour's average: {day["cold"]:.0f}
cold and {day["hot"]:.0f} hot requests a second. Cores add up per replica or worker (one
worker a core); add one replica for restarts (docs/SCALING.md).

<details><summary>Every run</summary>

{table(["mix", "share of max", "req/s", "p50 ms", "p99 ms", "max ms", "errors"], runs)}

</details>
"""
