"""The sections of docs/BENCHMARKS.md on scaling: users, catalog size, batch size and the
projection's size on disk (bench/scaling.py, bench/ingest_batch.py), with their plots."""

from __future__ import annotations

from typing import Any

from report_common import (
    USERS_GOAL_P50,
    machine_line,
    missing,
    provenance,
    pyplot,
    save,
    table,
    verdict,
)


def plot_scaling(points: list[dict[str, Any]], x_key: str, x_label: str, name: str) -> str:
    plt = pyplot()
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
    plt = pyplot()
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
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 3.4))
    ax.plot([p["workouts"] / 1e6 for p in points], [p["file_bytes"] / 1e6 for p in points], "o-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("workouts in the projection (millions)")
    ax.set_ylabel("file size (MB)")
    return save(fig, "disk.png")


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
