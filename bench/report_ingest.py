"""The sections of docs/BENCHMARKS.md on filling a projection: ingest, replay, snapshots and
sharding (bench/ingest.py, bench/replay.py, bench/snapshot.py, bench/sharding.py)."""

from __future__ import annotations

from typing import Any

from report_common import missing, provenance, table, verdict


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
