"""Write docs/BENCHMARKS.md and its plots (docs/bench/*.png) from bench/results/*.json.

    .venv/bin/python bench/report.py

Every section shows the command that produced its figures and the machine and date it ran
on; a benchmark without results is listed with the command that makes them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
DOC = REPO / "docs" / "BENCHMARKS.md"
PLOTS = REPO / "docs" / "bench"

ADR_GOAL_THROUGHPUT = 5.0
ADR_GOAL_P95 = 0.2
USERS_GOAL_P50 = 1.2


# -- pure helpers ------------------------------------------------------------------------------


def table(header: list[str], rows: list[list[Any]]) -> str:
    """A Markdown table; numbers right-aligned."""
    align = [
        "---:" if rows and isinstance(rows[0][i], int | float) else "---"
        for i in range(len(header))
    ]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def verdict(ok: bool) -> str:
    return "met" if ok else "**not met**"


def machine_line(record: dict[str, Any]) -> str:
    m = record["machine"]
    load = ", ".join(f"{x:g}" for x in m.get("load_average_at_start") or [])
    return (
        f"{m['cpu_model']}, {m['cpus']} CPUs, {m['memory_gb']} GB RAM; {m['os']}; "
        f"Python {m['python']}, SQLite {m['sqlite']}, {m.get('wrk') or 'no wrk'}; "
        f"load average at start {load}; finished {record['finished_at']}"
    )


def provenance(record: dict[str, Any]) -> str:
    return f"Command: `{record['command']}`  \nMachine: {machine_line(record)}"


# -- plots -------------------------------------------------------------------------------------


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 100, "font.size": 9})
    return plt


def save(fig: Any, name: str) -> str:
    PLOTS.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(PLOTS / name)
    _pyplot().close(fig)
    return f"![{name}](bench/{name})"


def plot_adr(data: dict[str, Any]) -> str:
    plt = _pyplot()
    names = data["names"]
    keys = list(names)
    s = data["summary"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    left.bar([names[k] for k in keys], [s[k]["rps"] for k in keys], color=["C0", "C3", "C1"])
    left.set_ylabel("requests per second")
    left.set_title("Throughput (100 connections)")
    width = 0.25
    for i, k in enumerate(keys):
        xs = [j + (i - 1) * width for j in range(3)]
        right.bar(
            xs,
            [s[k][f] for f in ("p50_ms", "p95_ms", "p99_ms")],
            width,
            label=names[k],
            color=["C0", "C3", "C1"][i],
        )
    right.set_xticks(range(3), ["p50", "p95", "p99"])
    right.set_yscale("log")
    right.set_ylabel("ms (log scale)")
    right.set_title("Latency")
    right.legend()
    return save(fig, "adr.png")


def plot_scaling(points: list[dict[str, Any]], x_key: str, x_label: str, name: str) -> str:
    plt = _pyplot()
    xs = [p[x_key] for p in points]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for f, style in (("p50_ms", "o-"), ("p95_ms", "s--"), ("p99_ms", "^:")):
        left.plot(xs, [p["summary"]["loaded"][f] for p in points], style, label=f[:3])
        right.plot(xs, [p["summary"]["single"][f] for p in points], style, label=f[:3])
    left.set_title("100 connections")
    right.set_title("one connection")
    for ax in (left, right):
        ax.set_xscale("log")
        ax.set_xlabel(x_label)
        ax.set_ylabel("ms")
        ax.set_ylim(bottom=0)
        ax.legend()
    return save(fig, name)


def plot_batch(data: dict[str, Any]) -> str:
    plt = _pyplot()
    rows = data["sizes"]
    fig, ax = plt.subplots(figsize=(6, 3.4))
    xs = [r["batch_max_records"] for r in rows]
    ax.plot(xs, [r["best_events_per_second"] for r in rows], "o-", label="coach, best")
    ax.plot(xs, [r["median_events_per_second"] for r in rows], "s--", label="coach, median")
    ax.axhline(data["bare_best_events_per_second"], color="grey", ls=":", label="bare read")
    ax.set_xscale("log")
    ax.set_xlabel("COACH_BATCH_MAX_RECORDS")
    ax.set_ylabel("events per second")
    ax.set_ylim(bottom=0)
    ax.legend()
    return save(fig, "ingest_batch.png")


def plot_disk(points: list[dict[str, Any]]) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot([p["workouts"] / 1e6 for p in points], [p["file_bytes"] / 1e6 for p in points], "o-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("workouts in the projection (millions)")
    ax.set_ylabel("file size (MB)")
    return save(fig, "disk.png")


# -- sections ----------------------------------------------------------------------------------


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def missing(title: str, command: str) -> str:
    return f"## {title}\n\nNot measured yet: `{command}`.\n"


def adr_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "coach against the ADR's synchronous design"
    if record is None:
        return missing(title, ".venv/bin/python bench/adr.py"), []
    d = record["data"]
    names, s, r = d["names"], d["summary"], d["ratios"]
    rows = [
        [
            names[k],
            s[k]["rps"],
            s[k]["p50_ms"],
            s[k]["p95_ms"],
            s[k]["p99_ms"],
            f"{s[k]['errors']:.0f} of {s[k]['requests']:,.0f}",
        ]
        for k in names
    ]
    cpu = d["cpu_us_per_request"]
    processes = list(next(iter(cpu.values())))
    cpu_rows = [[names[k], *(cpu[k][p] for p in processes)] for k in names]
    rounds = [
        [i + 1, names[k], run["rps"], run["p50_ms"], run["p95_ms"], run["p99_ms"]]
        for k in names
        for i, run in enumerate(d["runs"][k])
    ]
    w = d["wrk"]
    cpus = record["machine"]["cpus"]
    own = cpu["adr_raw"]["adr_raw"]
    cap = cpus / own * 1e6
    free_monolith = (
        f"A bound, derived rather than measured: if the monolith answered for free, the ADR "
        f"service's own CPU per request ({own:,.0f} us with the raw client) would cap it at "
        f"{cpus} cores / {own:,.0f} us = {cap:,.0f} requests/s on this machine (generous: "
        f"wrk needs some of the cores too); coach measured {s['coach']['rps'] / cap:.1f}x "
        "that. Most of the gap is "
        "the monolith's per-call work, but the per-request HTTP calls and the catalog's "
        "JSON alone cost the ADR service more than coach's whole request."
    )
    agreed = ", ".join(f"{names[k]} {n}" for k, n in d["same_answers"]["same"].items())
    text = f"""## {title}

{provenance(record)}

The ADR's original design: a WOD service that, on every request, asks the monolith over
HTTP for the exercise catalog and the user's exercises, then filters and draws. Both
designs serve the same projection ({d["projection"]["exercises"]} exercises,
{d["projection"]["workouts"]:,} workouts of {d["projection"]["users"]:,} users) and answer
the same WOD: before measuring, the run checked that the ADR service and coach give the
same exercises and suggestions to {d["same_answers"]["checked"]} users (agreed: {agreed}).

- **The monolith stand-in** (`bench/monolith.py`) is a bare ASGI app under uvicorn
  ({d["workers"]} workers) over a *copy* of coach's projection file. `GET /catalog` runs,
  per call, the catalog version query and the two catalog queries (exercises; their muscle
  groups joined) and renders about 100 kB of JSON; `GET /users/ID/exercises` runs the two
  indexed queries coach's WOD runs (the user's workouts of the window, their folded
  performances). No sleeps, no cache: the cost per call is that of the queries and the
  JSON, what a database behind the monolith would cost at the least.
- **The ADR service** (`bench/adr_service.py`): FastAPI under uvicorn ({d["workers"]}
  workers), coach's own JWT verifier and token cache, both calls at once over keep-alive
  connections, then coach's `choose_wod`, `daily_rng`, `suggest` and "yesterday". It runs
  twice: with httpx2's `AsyncClient` (what such a service would use) and with a minimal
  raw keep-alive client (a bound: what the fastest client could save it).
- **coach**: `coach api` with {d["workers"]} workers over the projection.
- **Load**: wrk, {w["connections"]} connections, {w["threads"]} threads, {w["tokens"]:,}
  users' tokens in rotation, {w["rounds"]} rounds of {w["seconds"]:g} s per server, the
  order rotating every round. All servers and wrk share the machine's cores (the stand-in
  and the other services idle while not measured).

{table(["Design", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors"], rows)}

Ratios, coach to ADR (httpx): throughput **{r["adr"]["throughput"]:.1f}x** (goal at least
{ADR_GOAL_THROUGHPUT:g}x: {verdict(r["adr"]["throughput"] >= ADR_GOAL_THROUGHPUT)}), p95
**{r["adr"]["p95"]:.3f}** of the ADR's (goal at most {ADR_GOAL_P95:g}:
{verdict(r["adr"]["p95"] <= ADR_GOAL_P95)}). Against the raw-client bound: throughput
{r["adr_raw"]["throughput"]:.1f}x ({verdict(r["adr_raw"]["throughput"] >= ADR_GOAL_THROUGHPUT)}),
p95 {r["adr_raw"]["p95"]:.3f} ({verdict(r["adr_raw"]["p95"] <= ADR_GOAL_P95)}).

CPU time per answered request (microseconds, user + system, each process with its
workers), during each design's runs: where the ADR design's time goes.

{table(["During the runs of", *(names.get(p, p + " stand-in") for p in processes)], cpu_rows)}

{free_monolith}

{plot_adr(d)}

<details><summary>Every run</summary>

{table(["Round", "Design", "req/s", "p50 ms", "p95 ms", "p99 ms"], rounds)}

</details>
"""
    headline = [
        [
            "coach / ADR throughput (httpx)",
            f"{r['adr']['throughput']:.1f}x",
            f">= {ADR_GOAL_THROUGHPUT:g}x",
            verdict(r["adr"]["throughput"] >= ADR_GOAL_THROUGHPUT),
            record["command"],
        ],
        [
            "coach / ADR p95 (httpx)",
            f"{r['adr']['p95']:.3f}",
            f"<= {ADR_GOAL_P95:g}",
            verdict(r["adr"]["p95"] <= ADR_GOAL_P95),
            record["command"],
        ],
        [
            "coach / ADR throughput, p95 (raw-client bound)",
            f"{r['adr_raw']['throughput']:.1f}x, {r['adr_raw']['p95']:.3f}",
            "",
            "",
            record["command"],
        ],
    ]
    return text, headline


def scaling_rows(points: list[dict[str, Any]], key: str) -> list[list[Any]]:
    first = points[0]["summary"]
    return [
        [
            p[key],
            p["workouts"],
            p["file_bytes"] / 1e6,
            p["summary"]["loaded"]["rps"],
            p["summary"]["loaded"]["p50_ms"],
            p["summary"]["loaded"]["p95_ms"],
            p["summary"]["loaded"]["p99_ms"],
            p["summary"]["loaded"]["p50_ms"] / first["loaded"]["p50_ms"],
            p["summary"]["single"]["p50_ms"],
            p["summary"]["single"]["p99_ms"],
            p["summary"]["single"]["p50_ms"] / first["single"]["p50_ms"],
        ]
        for p in points
    ]


def rounds_table(points: list[dict[str, Any]]) -> str:
    """Every run of a scaling benchmark, to show the noise behind the means."""
    rows = [
        [p["label"], i + 1, loaded["rps"], loaded["p50_ms"], single["p50_ms"]]
        for p in points
        for i, (loaded, single) in enumerate(zip(p["loaded"], p["single"], strict=True))
    ]
    body = table(["size", "round", "req/s", "p50 ms", "1-conn p50 ms"], rows)
    return f"<details><summary>Every run</summary>\n\n{body}\n\n</details>"


SCALING_HEADER = [
    "workouts",
    "file MB",
    "req/s",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "p50 / first",
    "1-conn p50 ms",
    "1-conn p99 ms",
    "1-conn p50 / first",
]


def users_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "WOD latency against users in the projection"
    if record is None:
        return missing(title, ".venv/bin/python bench/scaling.py users --full"), []
    d = record["data"]
    points = d["points"]
    first, last = points[0], points[-1]
    loaded = last["summary"]["loaded"]["p50_ms"] / first["summary"]["loaded"]["p50_ms"]
    single = last["summary"]["single"]["p50_ms"] / first["summary"]["single"]["p50_ms"]
    w = d["wrk"]
    text = f"""## {title}

{provenance(record)}

{d["workouts_per_user"]} workouts per user over the last 48 hours, {first["exercises"]}
exercises; each size served by its own `coach api` ({d["workers"]} workers), wrk against
each in turn ({w["rounds"]} rounds, order rotating): {w["connections"]} connections for
{w["seconds"]:g} s with {w["tokens"]:,} tokens of users drawn from the whole projection,
then one connection for {w["single_seconds"]:g} s (a request that never queues behind
another). "/ first" is the ratio to the smallest size.

{table(["users", *SCALING_HEADER], scaling_rows(points, "users"))}

p50 at {last["users"]:,} users against {first["users"]:,}: **{loaded:.2f}x** at 100
connections, **{single:.2f}x** on one connection (goal at most {USERS_GOAL_P50:g}x:
{verdict(loaded <= USERS_GOAL_P50)} / {verdict(single <= USERS_GOAL_P50)}).

{plot_scaling(points, "users", "users in the projection", "wod_users.png")}

{rounds_table(points)}
"""
    headline = [
        [
            f"WOD p50, {last['users']:,} / {first['users']:,} users (100 conns; 1 conn)",
            f"{loaded:.2f}x; {single:.2f}x",
            f"<= {USERS_GOAL_P50:g}x",
            f"{verdict(loaded <= USERS_GOAL_P50)}; {verdict(single <= USERS_GOAL_P50)}",
            record["command"],
        ],
    ]
    return text, headline


def catalog_section(record: dict[str, Any] | None) -> str:
    title = "WOD latency against catalog size"
    if record is None:
        return missing(title, ".venv/bin/python bench/scaling.py catalog")
    d = record["data"]
    points = d["points"]
    w = d["wrk"]
    return f"""## {title}

{provenance(record)}

{points[0]["users"]:,} users, {d["workouts_per_user"]} workouts each over the last 48
hours, workouts drawn from the catalog of each size; otherwise as above ({w["rounds"]}
rounds, {w["connections"]} connections for {w["seconds"]:g} s, then one connection).

{table(["exercises", *SCALING_HEADER], scaling_rows(points, "exercises"))}

{plot_scaling(points, "exercises", "exercises in the catalog", "wod_catalog.png")}

{rounds_table(points)}
"""


def batch_section(record: dict[str, Any] | None) -> str:
    title = "Ingest rate against batch size"
    if record is None:
        return missing(title, ".venv/bin/python bench/ingest_batch.py --full")
    d = record["data"]
    rows = [
        [
            r["batch_max_records"],
            r["best_events_per_second"],
            r["median_events_per_second"],
            r["best_ratio_to_bare"],
        ]
        for r in d["sizes"]
    ]
    return f"""## {title}

{provenance(record)}

coach's consumer applies the same {d["events"]:,} records (catalog, then workouts of
{d["users"]:,} users with about 1% redeliveries and 1% deletions) from a real broker into a
fresh projection once per `COACH_BATCH_MAX_RECORDS`, {d["rounds"]} rounds with the order
rotating; a bare aiokafka read and parse of the same records in every round is the
reference (best {d["bare_best_events_per_second"]:,.0f} events/s).

{table(["COACH_BATCH_MAX_RECORDS", "best events/s", "median events/s", "best / bare read"], rows)}

{plot_batch(d)}
"""


DISK_HEADER = ["workouts", "users", "exercises", "file MB", "MB per million workouts"]


def disk_section(records: list[dict[str, Any]]) -> tuple[str, list[list[Any]]]:
    title = "Projection size on disk"
    points = [p for r in records for p in r["data"]["points"]]
    if not points:
        return missing(title, ".venv/bin/python bench/scaling.py users --full"), []
    points.sort(key=lambda p: (p["workouts"], p["exercises"]))
    rows = [
        [
            p["workouts"],
            p["users"],
            p["exercises"],
            p["file_bytes"] / 1e6,
            p["file_bytes"] / p["workouts"],
        ]
        for p in points
    ]
    largest = max(points, key=lambda p: p["workouts"])
    per_million = largest["file_bytes"] / largest["workouts"]
    commands = "; ".join(f"`{r['command']}`" for r in records)
    text = f"""## {title}

Commands: {commands} (the projections they built)  \nMachine: {machine_line(records[0])}

The file after a WAL checkpoint, built by the consumer's own batch application: a workout
of 3 to 6 exercises is one row (its exercises as compact JSON) plus its entry in the
(user, workout) index; the catalog and the bookkeeping are a few hundred kB. Workouts
older than the history window (50 h) are folded into one row per user and exercise, so the
file holds the window's workouts, not every workout ever. These projections hold no folded
rows (every workout is inside the window); a long-lived one adds one `performances` row per
user and exercise ever done, which this does not measure.

{table(DISK_HEADER, rows)}

At the largest size: **{per_million:.0f} MB per million workouts**.

{plot_disk([p for p in points if p["exercises"] == largest["exercises"]])}
"""
    headline = [
        [
            "Projection on disk per million workouts",
            f"{per_million:.0f} MB",
            "",
            "",
            "; ".join(r["command"] for r in records),
        ]
    ]
    return text, headline


def ingest_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "Ingest against a bare aiokafka read"
    if record is None:
        return missing(title, ".venv/bin/python bench/ingest.py"), []
    d = record["data"]
    rows = [
        [
            i + 1,
            d["events"] / r["bare_seconds"],
            d["events"] / r["coach_seconds"],
            r["bare_seconds"] / r["coach_seconds"],
        ]
        for i, r in enumerate(d["rounds"])
    ]
    median = d.get("ratio_median", d["ratio_best"])
    text = f"""## {title}

{provenance(record)}

coach's consumer applying {d["events"]:,} records to a fresh projection against a bare
aiokafka consumer reading and parsing the same records, alternated (bench/ingest.py).

{table(["round", "bare events/s", "coach events/s", "coach / bare"], rows)}

Best of each: bare {d["bare_events_per_second"]:,.0f} events/s, coach
{d["coach_events_per_second"]:,.0f} events/s, ratio {d["ratio_best"]:.2f}; median of the
rounds' ratios **{median:.2f}** (goal at least 0.5: {verdict(median >= 0.5)}).
"""
    headline = [
        [
            "Ingest, coach / bare read (median)",
            f"{median:.2f}",
            ">= 0.5",
            verdict(median >= 0.5),
            record["command"],
        ]
    ]
    return text, headline


def full_replay(d: dict[str, Any]) -> str:
    if "full_replay_seconds" not in d:
        return ""
    best_bare = min(r["bare_seconds"] for r in d["rounds"])
    return f"""
The whole `coach replay` beside a live projection of the same records, once (copy the live
file, rebuild to its offsets, the full integrity check of both, fold and compare both: table
checksums and 1,000 users' answers; swap): {d["full_replay_seconds"]:.1f} s,
{d["full_replay_seconds"] / best_bare:.1f} times the best bare read. No goal is set for it;
what it adds to the rebuild grows with the live file, not with the events.
"""


def replay_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "Replay against a bare aiokafka read"
    if record is None:
        return missing(title, ".venv/bin/python bench/replay.py"), []
    d = record["data"]
    rows = [
        [i + 1, r["bare_seconds"], r["replay_seconds"], r["replay_seconds"] / r["bare_seconds"]]
        for i, r in enumerate(d["rounds"])
    ]
    text = f"""## {title}

{provenance(record)}

`coach replay --into` rebuilding a projection from {d["events"]:,} records (read both topics
from the earliest offsets; decode here, commit in the writer process; fold, SQLite's quick
check, checkpoint) against a bare aiokafka consumer reading and parsing the same records,
alternated (bench/replay.py). The rebuilt file: {d["rebuilt_mb"]:.0f} MB.

{table(["round", "bare s", "replay s", "replay / bare"], rows)}

Replay / bare: best round **{d["ratio_best"]:.2f}**, median {d["ratio_median"]:.2f} (goal at
most 2: {verdict(d["ratio_median"] <= 2.0)}).
{full_replay(d)}"""
    headline = [
        [
            "Replay time / bare read time (median)",
            f"{d['ratio_median']:.2f}",
            "<= 2",
            verdict(d["ratio_median"] <= 2.0),
            record["command"],
        ]
    ]
    return text, headline


def wod_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "WOD against the framework's ceiling"
    if record is None:
        return missing(title, ".venv/bin/python bench/wod.py"), []
    d = record["data"]
    main = d["main"]
    rows = [
        [name, run["rps"], run["p50_ms"], run["p95_ms"], run["p99_ms"]]
        for pair in zip(main["ceiling"], main["wod"], strict=True)
        for name, run in zip(("ceiling", "wod"), pair, strict=True)
    ]
    r = d["ratios"]
    text = f"""## {title}

{provenance(record)}

`GET /fitness/wod` against `GET /bench/ceiling` (same server, middleware and bearer check,
then a fixed body of a WOD's size) on a projection of {d["projection"]["exercises"]}
exercises and {d["projection"]["workouts"]:,} workouts of {d["projection"]["users"]:,}
users; wrk {d["wrk"]["connections"]} connections, {d["wrk"]["tokens"]:,} tokens,
{main["workers"]} worker(s), runs of {main["seconds"]:g} s alternated (bench/wod.py).
{d.get("token_micro", "")}.

{table(["endpoint", "req/s", "p50 ms", "p95 ms", "p99 ms"], rows)}

Throughput WOD / ceiling **{r["throughput"]:.2f}** (goal at least 0.9:
{verdict(r["throughput"] >= 0.9)}); p99 WOD / ceiling **{r["p99"]:.2f}** (goal at most 1.5:
{verdict(r["p99"] <= 1.5)}); WOD p95 {r["wod_p95_ms"]:.1f} ms at 100 concurrent users.
"""
    headline = [
        [
            "WOD / ceiling throughput",
            f"{r['throughput']:.2f}",
            ">= 0.9",
            verdict(r["throughput"] >= 0.9),
            record["command"],
        ],
        [
            "WOD / ceiling p99",
            f"{r['p99']:.2f}",
            "<= 1.5",
            verdict(r["p99"] <= 1.5),
            record["command"],
        ],
    ]
    return text, headline


def cdc_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "Freshness through the outbox and Debezium"
    if record is None:
        return missing(title, ".venv/bin/python bench/cdc_freshness.py"), []
    d = record["data"]
    ok = d["p99_ms"] < 200 and d["rate"] >= 500
    rows = [
        ["commit -> WOD", d["p50_ms"], d["p90_ms"], d["p99_ms"], d["max_ms"]],
        ["commit -> topic", d["commit_to_topic_p50_ms"], "", d["commit_to_topic_p99_ms"], ""],
    ]
    text = f"""## {title}

{provenance(record)}

From a workout's commit in the monolith's PostgreSQL (with its outbox row, through the
monolith kit) to the first WOD of its user that reflects it, through Debezium's connector
in Kafka Connect (`poll.interval.ms=20`), the broker, `coach consume` and `coach api`
(`COACH_STATUS_CACHE_SECONDS={d["status_cache_seconds"]:g}`), while pgbench commits
{d["rate"]:.0f} other workouts a second; {d["probes"]} probes, {d["missed"]} missed,
{d["dead_letters"]} dead letters (bench/cdc_freshness.py).

{table(["path", "p50 ms", "p90 ms", "p99 ms", "max ms"], rows)}

p99 **{d["p99_ms"]:.0f} ms** under {d["rate"]:.0f} workouts/s (goal under 200 ms at 500/s or
more: {verdict(ok)}). With coach's default `COACH_STATUS_CACHE_SECONDS=1` the api reuses
the consumer's status for up to a second, and that second dominates: p50 about 490 ms and
p99 about 1,030 ms in the same setup (`--status-cache 1.0`).
"""
    headline = [
        [
            "commit -> WOD p99 (outbox, Debezium)",
            f"{d['p99_ms']:.0f} ms at {d['rate']:.0f}/s",
            "< 200 ms at >= 500/s",
            verdict(ok),
            record["command"],
        ]
    ]
    return text, headline


def render() -> str:
    adr, adr_head = adr_section(load("adr"))
    users_record = load("scaling_users")
    users, users_head = users_section(users_record)
    catalog_record = load("scaling_catalog")
    catalog = catalog_section(catalog_record)
    disk, disk_head = disk_section([r for r in (users_record, catalog_record) if r])
    batch = batch_section(load("ingest_batch"))
    ingest, ingest_head = ingest_section(load("ingest"))
    replay, replay_head = replay_section(load("replay"))
    wod, wod_head = wod_section(load("wod"))
    cdc, cdc_head = cdc_section(load("cdc_freshness"))
    headline = adr_head + users_head + disk_head + ingest_head + replay_head + wod_head + cdc_head
    return f"""# Benchmarks

Written by `bench/report.py` from `bench/results/*.json`; `make bench` runs every benchmark
at sizes that take a few minutes and rewrites this file, `make bench-full` (or
`.venv/bin/python bench/run.py --full`) at the large ones (1M users, 500,000 events).
Each section names the command that produced its figures and the machine it ran on. The
machine is shared: every server and wrk share its cores, and other work may run at the
same time (the load average at the start is shown), so compare figures measured side by
side in one run, as every ratio here is.

## Headline

{table(["Figure", "Measured", "Goal", "", "Command"], headline)}

{adr}
{users}
{catalog}
{disk}
{batch}
{ingest}
{replay}
{wod}
{cdc}
## Reproducing

```sh
make bench                                   # every benchmark, small sizes, then this report
make bench-full                              # the same at the large sizes
.venv/bin/python bench/report.py             # this report again from bench/results/
```

The broker comes from `COACH_KAFKA_BOOTSTRAP_SERVERS`, else the local one (`make broker`).
wrk must be installed (`make bench` installs Debian's package when it is missing).
"""


def main() -> int:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(REPO)} and {PLOTS.relative_to(REPO)}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
