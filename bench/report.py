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

from report_starvation import STARVATION_SECTION

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


SNAPSHOT_GOAL = 10.0
SNAPSHOT_COLUMNS = [
    "round",
    "from topics s",
    "snapshot s",
    "copy s",
    "from snapshot s",
    "checks s",
    "ratio",
]


def snapshot_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "A new replica: ready from a snapshot against from the topics"
    if record is None:
        return missing(title, ".venv/bin/python bench/snapshot.py"), []
    d = record["data"]
    rows = [
        [
            i + 1,
            r["from_topics_seconds"],
            r["snapshot_seconds"],
            r["copy_seconds"],
            r["from_snapshot_seconds"],
            r["checks_seconds"] if r["checks_seconds"] is not None else "?",
            r["from_topics_seconds"] / r["from_snapshot_seconds"],
        ]
        for i, r in enumerate(d["rounds"])
    ]
    last = d["rounds"][-1]
    ratio = d["ratio_median"]
    text = f"""## {title}

{provenance(record)}

{d["records"]:,} records (two workouts per user on average, user ids drawn from
{d["users"]:,}, 200 exercises) on a real broker (bench/snapshot.py). Replica A starts from
an empty file (`coach consume` and `coach api`), timed from the start of the processes to
`GET /ready` 200; then, A running, `coach snapshot` of its projection, a copy of the file,
and replica B started on the copy, timed the same way (B first checks the file: topics and
SQLite's quick check, "checks" below). The projection: {last["file_bytes"] / 1e6:.0f} MB; A's
resident memory once caught up: consumer (with its writer process)
{last["consumer_mb"]:.0f} MB, api (1 worker) {last["api_mb"]:.0f} MB.

{table(SNAPSHOT_COLUMNS, rows)}

Time to ready, from the topics / from the snapshot (median of the rounds): **{ratio:.1f}x**
(goal at least {SNAPSHOT_GOAL:g}x: {verdict(ratio >= SNAPSHOT_GOAL)}); counting the snapshot
and the copy as well: {d["ratio_with_snapshot_and_copy_median"]:.1f}x.
"""
    headline = [
        [
            f"Replica ready, from topics / from a snapshot ({d['users']:,} users)",
            f"{ratio:.1f}x",
            f">= {SNAPSHOT_GOAL:g}x",
            verdict(ratio >= SNAPSHOT_GOAL),
            record["command"],
        ]
    ]
    return text, headline


def sharding_section(record: dict[str, Any] | None) -> str:
    title = "Routing a user to the shard that holds them"
    if record is None:
        return missing(title, ".venv/bin/python bench/sharding.py")
    d = record["data"]
    rows = [
        [r["partitions"], r["replicas"], f"{r['min_share']:.2%}", f"{r['max_share']:.2%}"]
        for r in d["spread"]
    ]
    return f"""## {title}

{provenance(record)}

The routing rule of docs/SCALING.md (a user's workouts partition = Kafka's default
partitioner over the user id; the replica = the one the routing table gives that
partition), computed by bench/sharding.py for {d["users"]:,} user ids: it agrees with
aiokafka's `DefaultPartitioner` for {d["agree_aiokafka"]:,} of {d["users"]:,}, and with the
partition the real broker stored {d["broker_sample"]:,} keyed records in for
{d["agree_broker"]:,} of them. Users per replica (share of all users, smallest and largest):

{table(["partitions", "replicas", "smallest share", "largest share"], rows)}
"""


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


def plot_tail(d: dict[str, Any]) -> str:
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), sharey=True)
    for ax, mix in zip(axes, ("hot", "cold"), strict=True):
        for run in (r for r in d["open"] if r["mix"] == mix):
            points = sorted((float(p), ms) for p, ms in run["percentiles_ms"].items())
            xs = [1 / (1 - p / 100) for p, _ in points]  # 2 = p50, 100 = p99, 1000 = p99.9
            ax.plot(
                xs,
                [ms for _, ms in points],
                "o-" if run["app"] == "coach" else "s--",
                label=f"{run['app']}, {run['share']:.0%} of max ({run['rate']} req/s)",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [2, 4, 10, 20, 100, 200, 1000, 10000]
        ax.set_xticks(ticks, ["p50", "p75", "p90", "p95", "p99", "p99.5", "p99.9", "p99.99"])
        ax.set_title(f"{mix} mix, open loop")
        ax.set_ylabel("latency, ms (log)")
        ax.legend(fontsize=7)
    return save(fig, "tail.png")


def plot_freshness(d: dict[str, Any]) -> str:
    plt = _pyplot()
    ms = sorted(d["all_ms"])
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot(ms, [(i + 1) / len(ms) for i in range(len(ms))], "-")
    ax.axvline(100, color="grey", ls=":", label="goal: p99 < 100 ms")
    ax.set_xlabel("publish (acks=all) to a WOD that reflects it, ms")
    ax.set_ylabel("share of probes")
    ax.set_ylim(0, 1.01)
    ax.legend()
    return save(fig, "freshness.png")


CLOSED_HEADER = [
    "mix",
    "connections",
    "app",
    "req/s",
    "p50 ms",
    "p99 ms",
    "p99.9 ms",
    "max ms",
    "errors",
    "loop stalls > 100 ms",
]
OPEN_HEADER = ["mix", "share", "req/s", "app", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"]


def inprocess_part(record: dict[str, Any] | None) -> str:
    """CPU per request in process, coach against the plain app: where the two differ."""
    if record is None:
        return "(`.venv/bin/python bench/wod_inprocess.py --plain` has not run yet.)"
    d = record["data"]
    rows = [
        [mix, d[mix]["coach_us"], d[mix]["plain_us"], d[mix]["coach_us"] / d[mix]["plain_us"]]
        for mix in ("hot", "cold")
    ]
    return f"""CPU time per request of the two apps themselves, in one process without sockets (the
ASGI app called directly, best of {d["rounds"]} rounds of {d["requests"]:,} requests,
alternating the apps; {provenance(record)}):

{table(["mix", "coach (us)", "plain app (us)", "coach / plain"], rows)}"""


WHAT_MADE_THE_DIFFERENCE = """### What made the difference

Found with the in-process comparison above, profiles of it (cProfile, then py-spy), the
event loop lag histogram (`coach_event_loop_lag_seconds`, per process in `/metrics`) and a
second load generator. In the order they were found:

**Saturation came first.** A single worker saturated by a closed loop of 100 or 200
connections gives every app a long p99: the plain app's too, since each connection waits
behind the others, and a saturated loop runs a whole batch of ready requests per turn. The
lag histogram's "stalls" at 200 connections are those turns. coach saturated first, because
each WOD cost more CPU than the plain app's whole request.

Before the changes below, the in-process comparison gave coach's WOD 157 us hot and 415 us
cold, against the plain app's 89 and 190 (one run, the same machine). Most of the
difference was FastAPI's own work: route matching, dependency solving (the bearer scheme,
then the route's own dependency), and FastAPI 0.163's native OpenTelemetry hooks, which
look up the global providers on every request. Three changes addressed it:

1. **A fast path** (api/fastpath.py): a pure ASGI middleware answers GET and HEAD
   /fitness/wod with the function the FastAPI route calls (`api.wod.answer_wod`). The route
   stays declared for the OpenAPI document. tests/integration/test_api_fastpath.py checks
   that both answer byte for byte the same, fuzzed queries and headers included.
2. **FastAPI's telemetry hooks off.** coach's telemetry is its Prometheus /metrics.
3. **PyJWT's HMAC key check done once**, at start-up, instead of on every token. PyJWT
   tries to parse the secret as a PEM, SSH and DER public key each time: a quarter of a
   verification, which the cold mix pays on every request. A token now verifies in about
   40 us, against about 75 us. (Removed with issue 26: it registered a subclass of PyJWT's
   HMAC algorithm on PyJWT's private `_jws`. PyJWT checks the key on every token again;
   coach runs the same check once more at start-up, only to refuse a bad secret early.)

**The open loop's cold tail was the garbage collector.** With every request a new token,
the token cache and the held WODs filled with tracked objects (dataclass instances and
tuples holding a NamedTuple). Each full collection then walked all of them: 40 to 107 ms,
measured with `gc.callbacks` in a real `coach api` under vegeta. One such collection delays
every request that arrives meanwhile, which at 950 requests a second is more than 1 % of a
5 s run: p99 110 ms against the plain app's 3 ms. Both caches now keep flat tuples of
atomic values, which the collector stops tracking. The same run then had no stall over
17 ms, and the cold open loop's p99 at 50 % fell to the plain app's.

**Publish-to-WOD freshness** came from the status cache. Each api process reused the
consumer's status, and with it the change stamp that drops held WODs, for
`COACH_STATUS_CACHE_SECONDS`. At 1 s that was the freshness; at 50 ms the p99 was 158 ms;
at 20 ms, now the default, it is under 100 ms (figures in the next section).

**The day's first WOD: the token and the reads.** After those changes coach still reached
only 0.91-0.92 of the plain app's throughput in the cold mix: in process, 266-326 us per
WOD against the plain app's 200-244. py-spy of the cold mix in process
(`py-spy record -r 500` of bench/wod_inprocess.py's loop) put 30 % of a WOD in PyJWT: about
40 us per token alone, 80-90 us inside the busy worker, mostly a Python loop over every
base64url character, the standard library's JSON and option merging, around an HMAC of
3 us. Two changes:

1. **A fast path for the ordinary HS256 token** (api/hmac_tokens.py, since removed). It
   only ever accepted: the signature first, with the configured secret, then every claim
   PyJWT checks with coach's options, for a compact token of canonical base64url, a header
   of `alg` (and `typ`, `kid`) and integer times; every other token went to PyJWT. A token
   verified in 17-22 us with it. It was removed with issue 26, together with the subclass
   of PyJWT's HMAC algorithm that skipped PyJWT's key check per decode (it reached into
   PyJWT's private `_jws`): hand-written verification of tokens is security-critical
   parsing, which a well-kept library must decide, and a returning token costs nothing
   anyway through the token cache (api/tokencache.py). PyJWT now verifies every token's
   first use, in coach as in the plain app; the figures above were measured with the fast
   path and are not yet measured again without it.
2. **Less Python around the two reads**: a workout's exercises decoded by msgspec straight
   into tuples (1.6 us against 5.3 per workout), the window's entries built only for the
   chosen exercises, the draw's index taken with `getrandbits` as `randrange` takes it (the
   same WOD, seed for seed), the signature in one OpenSSL call, and a user's performances
   read by one primary-key lookup per chosen exercise instead of an IN list (21 us against
   28 with 12 performance rows per user).

**The closed loop's p99 at saturation is a few starved connections.** At 100 and 200
connections, wrk's p99 was in most runs 15 to 60 times its median, for both apps (0.76-1.17 s
in the cold mix at 100 connections, 4.7-5.8 s at 200), and in a few runs about twice it. The
same closed loop from a second client (bench/loop_client.py, the second table above), on
the same kind of fresh server and at the same throughput, saw p99 within about twice the
median, for both apps, and the event loop lag histogram no turn over 250 ms in any run.
This was first put down to wrk; the next section shows what it is: under uvloop, new
connections wait in the accept queue for one loop turn each and some connections are
served only every other turn, and wrk's correction for coordinated omission turns each of
those long waits into many samples. Both clients are reported, and the goal holds with
each.

**The hot open loop's half-second stalls were first visits.** Each run starts a fresh
server; its warm-up used other users, so the hot run began with the first visits of its
1,000 users (a token to verify and a WOD to draw for each, in its first second). On fresh
servers, that gave wrk a p99 of 400-520 ms (max about 1 s); a warm-up with the hot users
themselves gave 21-106 ms (3 fresh servers each). "Hot" means users coming back, so a hot
run now warms up with its own users; a cold run still warms up with others. Since then
coach's hot p99 at 80 % was 4-10 ms in each of three runs. The plain app's still varies
(6-93 ms in the same runs): 80 % of the lower of the two maxima is 80 % of the plain app's
own maximum, where bursts queue, and about half of coach's.

**Left.** Each figure here moves from run to run on this two-core machine (a fresh server
per run, the load generator on the other core): read the ratios of the medians, and the
two clients together."""


def _closed_row(r: dict[str, Any]) -> list[Any]:
    """One closed-loop run, as a row of CLOSED_HEADER (without the loop stalls)."""
    fields = ("mix", "connections", "app", "rps", "p50_ms", "p99_ms", "p999_ms", "max_ms")
    return [*(r[f] for f in fields), r["errors"]]


def _second_client_part(d: dict[str, Any]) -> str:
    """The closed loop again, from bench/loop_client.py (absent in older results)."""
    runs = d.get("closed_client")
    if not runs:
        return ""
    rows = [_closed_row(r) for r in runs]
    ratios = [
        [k, v["throughput"], v["p99"], v["p999"]] for k, v in d["closed_client_summary"].items()
    ]
    return f"""
The same closed loop from a second client (bench/loop_client.py: one uvloop process, raw
HTTP/1.1 on the same number of keep-alive connections, each sending its next request when
its last response has arrived):

{table(CLOSED_HEADER[:-1], rows)}

Ratios coach / plain, second client (medians of the rounds):

{table(["mix, connections", "throughput", "p99", "p99.9"], ratios)}
"""


def tail_section(
    record: dict[str, Any] | None, inprocess: dict[str, Any] | None = None
) -> tuple[str, list[list[Any]]]:
    title = "The tail against a plain FastAPI app"
    if record is None:
        return missing(title, ".venv/bin/python bench/tail.py"), []
    d = record["data"]
    closed_rows = [
        [*_closed_row(r), r["loop"]["over_100ms"] if "loop" in r else ""] for r in d["closed"]
    ]
    open_rows = [
        [
            r["mix"],
            f"{r['share']:.0%}",
            r["rate"],
            r["app"],
            r["p50_ms"],
            r["p99_ms"],
            r["p999_ms"],
            r["max_ms"],
            r["errors"],
        ]
        for r in d["open"]
    ]
    s, o = d["closed_summary"], d["open_summary"]
    ratio_rows = [[k, v["throughput"], v["p99"], v["p999"]] for k, v in s.items()]
    second = _second_client_part(d)
    text = f"""## {title}

{provenance(record)}

coach (`coach api`, one worker, a projection of 200 exercises and 100,000 workouts of 50,000
users) against a plain FastAPI app (bench/plain_app.py: the same HS256 check and token
cache, a real WOD as its fixed body), each on a freshly started server alone on core 0,
the load on core 1. Hot: 1,000 users at random. Cold: every request a user and a token
the server has not seen (the day's first WOD). Runs of {d["seconds"]:g} s,
{d["rounds"]} round(s), the two apps alternated (bench/tail.py), each after a 2 s warm-up:
with the hot users themselves before a hot run (users coming back), with other users
before a cold run.

Closed loop (wrk):

{table(CLOSED_HEADER, closed_rows)}

Ratios coach / plain (medians of the rounds):

{table(["mix, connections", "throughput", "p99", "p99.9"], ratio_rows)}
{second}
Open loop (vegeta: a fixed rate, 50 % and 80 % of the lower of the two maxima; latency from
each request's scheduled time, so a stall counts for every request it delays):

{table(OPEN_HEADER, open_rows)}

{plot_tail(d)}

{inprocess_part(inprocess)}

{WHAT_MADE_THE_DIFFERENCE}
"""
    headline = []
    for key, v in s.items():
        headline.append(
            [
                f"WOD / plain app p99, {key} connections",
                f"{v['p99']:.2f}",
                "<= 1.2",
                verdict(v["p99"] <= 1.2),
                record["command"],
            ]
        )
        headline.append(
            [
                f"WOD / plain app throughput, {key} connections",
                f"{v['throughput']:.2f}",
                ">= 1",
                verdict(v["throughput"] >= 1),
                record["command"],
            ]
        )
    for key, v in d.get("closed_client_summary", {}).items():
        headline.append(
            [
                f"WOD / plain app p99, {key} connections, second client",
                f"{v['p99']:.2f}",
                "<= 1.2",
                verdict(v["p99"] <= 1.2),
                record["command"],
            ]
        )
    for key, v in o.items():
        if key.endswith("80%"):
            headline.append(
                [
                    f"WOD / plain app p99, open loop, {key}",
                    f"{v['p99']:.2f}",
                    "<= 1.5",
                    verdict(v["p99"] <= 1.5),
                    record["command"],
                ]
            )
    return text, headline


def freshness_section(record: dict[str, Any] | None) -> tuple[str, list[list[Any]]]:
    title = "Freshness: publish to WOD"
    if record is None:
        return missing(title, ".venv/bin/python bench/freshness.py"), []
    d = record["data"]
    cache = d.get("status_cache_seconds")
    figures = ("p50_ms", "p90_ms", "p99_ms", "max_ms")
    text = f"""## {title}

{provenance(record)}

From the monolith's publish (acks=all) to the first GET /fitness/wod that reflects it, for
{d["probes"]} probes (a new user each, whose WOD the api already holds), with
{d["background_rate"]:.0f} other users' workouts a second in the background, through the
real `coach consume` and `coach api` (COACH_STATUS_CACHE_SECONDS
{"default" if cache is None else f"{cache:g}"}; bench/freshness.py).

{table(["p50 ms", "p90 ms", "p99 ms", "max ms"], [[d[k] for k in figures]])}

{plot_freshness(d)}
"""
    headline = [
        [
            "Publish-to-WOD freshness p99",
            f"{d['p99_ms']:.0f} ms",
            "< 100 ms",
            verdict(d["p99_ms"] < 100),
            record["command"],
        ]
    ]
    return text, headline


def image_section(record: dict[str, Any] | None) -> str:
    title = "The image"
    if record is None:
        return missing(title, ".venv/bin/python bench/image.py --cold")
    d = record["data"]
    warm = d["warm"]
    cold = d.get("cold")
    if cold:
        cold_text = (
            f"cold (no image, no base, no build cache; {cold.get('measured_at', '?')}):"
            f" **{cold['total_seconds']:.0f} s**: the base {cold['base_seconds']:.0f} s"
            f" ({cold['base_how']}), then the image {cold['build_seconds']:.0f} s."
        )
    else:
        cold_text = "cold: not measured yet (`.venv/bin/python bench/image.py --cold`)."
    starts = ", ".join(f"{t:.2f}" for t in d["start_to_health_seconds"])
    return f"""## {title}

{provenance(record)}

`localhost/coach:dev` built from the unchanged Dockerfile by `make image`
(tools/image/build.py) with {d["engine_version"]}, on `{warm["base"]}`
({warm["base_how"]}: see the README's "Building the image"); bench/image.py. Other work
may share the machine's cores (see the load average above), and a cold build's time is
mostly downloads from Debian's mirror and PyPI.

- Size: **{d["size_bytes"] / 1e6:.0f} MB**: the base {d["base_size_bytes"] / 1e6:.0f} MB,
  coach and its locked dependencies {(d["size_bytes"] - d["base_size_bytes"]) / 1e6:.0f} MB.
- Build, {cold_text} Warm, nothing changed: **{warm["total_seconds"]:.1f} s**.
- Start, from `run -d` of the api (an empty projection volume) to the first `/health` 200:
  median **{d["start_to_health_median"]:.2f} s** of {len(d["start_to_health_seconds"])}
  containers ({starts} s).
"""


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
more: {verdict(ok)}). With `COACH_STATUS_CACHE_SECONDS=1` (the default until it became
50 ms) the api reuses the consumer's status for up to a second, and that second dominates:
p50 about 490 ms and p99 about 1,030 ms in the same setup (`--status-cache 1.0`).
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
    tail, tail_head = tail_section(load("tail"), load("inprocess"))
    freshness, freshness_head = freshness_section(load("freshness"))
    snapshot, snapshot_head = snapshot_section(load("snapshot"))
    sharding = sharding_section(load("sharding"))
    headline = (
        adr_head
        + users_head
        + disk_head
        + ingest_head
        + replay_head
        + wod_head
        + tail_head
        + freshness_head
        + snapshot_head
    )
    image = image_section(load("image"))
    cdc, cdc_head = cdc_section(load("cdc_freshness"))
    headline += cdc_head
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
{tail}
{STARVATION_SECTION}
{freshness}
{snapshot}
{sharding}
{cdc}
{image}
## Reproducing

```sh
make bench                                   # every benchmark, small sizes, then this report
make bench-full                              # the same at the large sizes
.venv/bin/python bench/report.py             # this report again from bench/results/
.venv/bin/python bench/loop_starvation.py    # uvloop's starved connections (--via nginx, --probe)
```

The broker comes from `COACH_KAFKA_BOOTSTRAP_SERVERS`, else the local one (`make broker`).
The image's figures need Docker or podman (`.venv/bin/python bench/image.py --cold` for a
build from nothing: it removes the image and its base first).
wrk must be installed (`make bench` installs Debian's package when it is missing).
"""


def main() -> int:
    DOC.parent.mkdir(parents=True, exist_ok=True)
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(REPO)} and {PLOTS.relative_to(REPO)}/*.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
